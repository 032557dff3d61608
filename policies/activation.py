"""Activation window, activation codes and temporary passwords.

OWASP ASVS 5.0 6.4.1: initial passwords and activation codes are securely random, short-lived
and cannot become the long-term credential. NIST SP 800-63B rev. 4 §3.1.1.2 (verifiers store
secrets keyed-hashed). The seed tenants give a 30-day window from issue.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from policies._time import aware
from policies.result import PolicyResult

# Crockford base32: no I, L, O, U, so a code read aloud or typed from paper survives.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4  # 16 symbols x 5 bits = 80 bits of entropy
# Letters and digits without the look-alikes 0/O/o, 1/l/I, so an SMS can be retyped.
TEMPORARY_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TEMPORARY_PASSWORD_LENGTH = 16

_CONFUSABLES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def activation_deadline(issued_at: datetime, window: timedelta) -> datetime:
    return aware(issued_at, "issued_at") + window


def activation_open(now: datetime, deadline: datetime) -> PolicyResult:
    """Open up to and including the deadline instant."""
    if aware(now, "now") <= aware(deadline, "deadline"):
        return PolicyResult.ok()
    return PolicyResult.fail("activation_expired")


def new_activation_code() -> str:
    """A random code like ``7K3M-Q9XD-2HTB-W4NR``."""
    symbols = "".join(secrets.choice(CROCKFORD) for _ in range(CODE_GROUPS * CODE_GROUP_LENGTH))
    groups = (symbols[i : i + CODE_GROUP_LENGTH] for i in range(0, len(symbols), CODE_GROUP_LENGTH))
    return "-".join(groups)


def normalise_activation_code(code: str) -> str:
    """Uppercase, drop spaces and dashes, read O as 0 and I/L as 1 (Crockford decoding)."""
    compact = "".join(code.split()).replace("-", "").upper()
    return compact.translate(_CONFUSABLES)


def new_temporary_password(length: int = TEMPORARY_PASSWORD_LENGTH) -> str:
    if length < 12:
        raise ValueError("temporary passwords are at least 12 characters")
    return "".join(secrets.choice(TEMPORARY_PASSWORD_ALPHABET) for _ in range(length))


def hash_code(secret_key: bytes, code: str) -> str:
    """HMAC-SHA256 of the normalised code.

    A fast keyed hash suffices: the code has 80 bits of entropy, so the key (not slowness)
    is what stops an offline search after a database leak.
    """
    message = normalise_activation_code(code).encode("utf-8")
    return hmac.new(secret_key, message, hashlib.sha256).hexdigest()


def code_matches(secret_key: bytes, code: str, stored_hash: str) -> bool:
    # Constant-time compare so response timing does not leak how much of the hash matched.
    return hmac.compare_digest(
        hash_code(secret_key, code).encode("ascii"), stored_hash.encode("utf-8")
    )
