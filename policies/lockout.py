"""Throttling and temporary lockout after failed sign-ins.

OWASP ASVS 5.0 6.3.1 (brute-force and credential-stuffing controls) and NIST SP 800-63B rev. 4
§3.2.2 (rate limiting: no more than 100 consecutive failed attempts on one account). A growing
delay slows guessing without letting an attacker lock a victim out cheaply; the lock itself
lifts automatically so it cannot become a permanent denial of service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from policies._time import aware

NIST_MAX_CONSECUTIVE_FAILURES = 100
FIRST_DELAY = timedelta(seconds=1)


@dataclass(frozen=True)
class LockoutRules:
    threshold: int = 10
    lock_duration: timedelta = timedelta(minutes=15)
    delay_after: int = 3
    max_delay: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= NIST_MAX_CONSECUTIVE_FAILURES:
            raise ValueError("threshold must be between 1 and 100 (NIST SP 800-63B)")
        if self.lock_duration <= timedelta(0):
            raise ValueError("lock_duration must be positive")
        if self.delay_after < 1:
            raise ValueError("delay_after must be at least 1")
        if self.max_delay < timedelta(0):
            raise ValueError("max_delay must not be negative")


@dataclass(frozen=True)
class LockoutVerdict:
    locked_until: datetime | None
    delay: timedelta


def failure_delay(failures: int, rules: LockoutRules) -> timedelta:
    """1 s at ``delay_after`` failures, doubling each time, capped at ``max_delay``."""
    if failures < rules.delay_after:
        return timedelta(0)
    doublings = failures - rules.delay_after
    if doublings >= 32:  # far past any sane cap; avoids building a huge timedelta
        return rules.max_delay
    return min(FIRST_DELAY * 2**doublings, rules.max_delay)


def after_failure(failures: int, now: datetime, rules: LockoutRules) -> LockoutVerdict:
    """Verdict after a failed attempt; ``failures`` counts consecutive failures including it."""
    if failures < 1:
        raise ValueError("failures counts this failure, so it is at least 1")
    aware(now, "now")
    locked_until = now + rules.lock_duration if failures >= rules.threshold else None
    return LockoutVerdict(locked_until=locked_until, delay=failure_delay(failures, rules))


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Locked strictly before ``locked_until``; it lifts by itself at that instant."""
    return locked_until is not None and aware(now, "now") < aware(locked_until, "locked_until")
