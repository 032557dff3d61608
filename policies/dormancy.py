"""Dormant accounts: no sign-in for a tenant-set period.

OWASP ASVS 5.0 and the tenants' seed documents: unused accounts go inactive and must be
reactivated by the helpdesk, shrinking the set of forgotten credentials an attacker can use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from policies._time import aware


def is_dormant(
    last_sign_in: datetime | None,
    activated_at: datetime,
    now: datetime,
    period: timedelta | None,
) -> bool:
    """Dormant once strictly more than ``period`` has passed; ``period`` None means never."""
    if period is None:
        return False
    reference = last_sign_in if last_sign_in is not None else activated_at
    return aware(now, "now") - aware(reference, "last activity") > period
