"""The verdict every policy returns (authentik ``policies/types.py`` PolicyResult).

A result with machine-readable reason codes lets callers map each reason to a message in the
user's language, and lets tests assert on the exact rule that failed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyResult:
    passed: bool
    reasons: tuple[str, ...] = ()

    @classmethod
    def ok(cls) -> PolicyResult:
        return cls(True)

    @classmethod
    def fail(cls, *reasons: str) -> PolicyResult:
        return cls(False, tuple(reasons))

    @classmethod
    def of(cls, reasons: list[str] | tuple[str, ...]) -> PolicyResult:
        """Passed when no reason was found."""
        return cls(not reasons, tuple(reasons))

    def __bool__(self) -> bool:
        return self.passed
