"""SMS transaction authorisation codes (TAC) for step-up and sensitive transactions.

NIST SP 800-63B rev. 4 §3.1.3 (out-of-band: 6+ digit codes, valid at most 10 minutes, used
once, a new code does not reset the failure count) and §3.2.2 (rate limiting); OWASP ASVS 5.0
6.5.1 (single use), 6.5.5 (at most 10 minutes), 6.6.2 (code bound to the request it
authorises), 6.6.3 (rate-limited sending and verification).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from policies._time import aware
from policies.result import PolicyResult

TAC_DIGITS = 6
MAX_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS_CEILING = 3


@dataclass(frozen=True)
class TacRules:
    lifetime: timedelta = timedelta(minutes=5)
    max_attempts: int = 3
    resend_cooldown: timedelta = timedelta(seconds=60)
    daily_cap_account: int = 10
    daily_cap_phone: int = 10

    def __post_init__(self) -> None:
        if not timedelta(0) < self.lifetime <= MAX_LIFETIME:
            raise ValueError("TAC lifetime must be more than 0 and at most 10 minutes")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS_CEILING:
            raise ValueError("TAC max_attempts must be between 1 and 3")
        if self.resend_cooldown < timedelta(0):
            raise ValueError("TAC resend_cooldown must not be negative")
        if self.daily_cap_account < 1 or self.daily_cap_phone < 1:
            raise ValueError("TAC daily caps must be at least 1")


def new_tac() -> str:
    return f"{secrets.randbelow(10**TAC_DIGITS):0{TAC_DIGITS}d}"


def may_send(
    now: datetime,
    last_sent_at: datetime | None,
    sent_today_account: int,
    sent_today_phone: int,
    rules: TacRules,
) -> PolicyResult:
    """Caps per account and per phone stop SMS pumping against either (ASVS 6.6.3)."""
    reasons: list[str] = []
    if last_sent_at is not None and aware(now, "now") < aware(last_sent_at) + rules.resend_cooldown:
        reasons.append("cooldown")
    if sent_today_account >= rules.daily_cap_account or sent_today_phone >= rules.daily_cap_phone:
        reasons.append("daily_cap")
    return PolicyResult.of(reasons)


def expires_at(issued_at: datetime, rules: TacRules) -> datetime:
    return aware(issued_at, "issued_at") + rules.lifetime


def may_verify(
    now: datetime, issued_at: datetime, failed_attempts: int, rules: TacRules
) -> PolicyResult:
    """Whether a code issued at ``issued_at`` may still be tried; valid through its last instant."""
    reasons: list[str] = []
    if aware(now, "now") > expires_at(issued_at, rules):
        reasons.append("expired")
    if failed_attempts >= rules.max_attempts:
        reasons.append("too_many_attempts")
    return PolicyResult.of(reasons)


def tac_matches(issued: str, entered: str) -> bool:
    """Constant-time comparison; spaces the user typed are ignored."""
    return hmac.compare_digest(issued.encode(), "".join(entered.split()).encode())


def tac_binding(client_id: str, purpose: str, details: object) -> str:
    """SHA-256 of canonical JSON, so a code only authorises the transaction it was sent for.

    ``details`` must be JSON-serialisable (TypeError otherwise).
    """
    canonical = json.dumps(
        {"client_id": client_id, "purpose": purpose, "details": details},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
