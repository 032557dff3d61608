"""OIDC authentication context (acr) step-up and step-down.

OpenID Connect Core 1.0 §3.1.2.1 (``acr_values`` are voluntary claims unless marked essential)
and §5.5.1.1; NIST SP 800-63B rev. 4 §2 (a higher assurance level is reached with an added
factor) and OWASP ASVS 5.0 6.6 / 10.4 (a sensitive transaction re-proves the stronger factor).
An elevated level decays back to the base after ``step_up_lifetime`` so one TAC does not
authorise a whole session.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from policies._time import aware
from policies.result import PolicyResult


def _level(acr: str | None, ladder: tuple[str, ...]) -> int:
    """Index in the ladder, -1 when unknown or absent."""
    if not ladder:
        raise ValueError("the acr ladder needs at least one level")
    return ladder.index(acr) if acr in ladder else -1


def _elevation_expired(
    acr_time: datetime | None, now: datetime, lifetime: timedelta
) -> bool:
    # No time recorded for an elevated level: fail closed and ask again.
    return acr_time is None or aware(now, "now") - aware(acr_time, "acr_time") > lifetime


def acr_satisfied(
    requested: tuple[str, ...],
    session_acr: str | None,
    acr_time: datetime | None,
    now: datetime,
    ladder: tuple[str, ...],
    step_up_lifetime: timedelta,
) -> PolicyResult:
    """Whether the session meets the weakest known requested acr (ladder: weakest first)."""
    known = [_level(value, ladder) for value in requested if value in ladder]
    if not known:
        return PolicyResult.ok()
    needed = min(known)
    level = _level(session_acr, ladder)
    if level < needed:
        return PolicyResult.fail("acr_too_low")
    # The base level never decays here (max_age covers it); only elevation does.
    if needed > 0 and _elevation_expired(acr_time, now, step_up_lifetime):
        return PolicyResult.fail("step_up_expired")
    return PolicyResult.ok()


def effective_acr(
    session_acr: str,
    acr_time: datetime | None,
    now: datetime,
    ladder: tuple[str, ...],
    lifetime: timedelta,
) -> str:
    """The session's acr now: an expired elevated level reads as the ladder's base."""
    if _level(session_acr, ladder) > 0 and _elevation_expired(acr_time, now, lifetime):
        return ladder[0]
    return session_acr
