"""Normalising the identifiers users type: Malaysian mobile numbers and MyKad numbers.

OWASP ASVS 5.0 6.6.1 (SMS only to a validated number) needs one canonical form, E.164
(ITU-T E.164), so the same phone is counted once by rate limits. MyKad numbers follow the
National Registration Department layout YYMMDD-PB-###G.
"""

from __future__ import annotations

import re
from datetime import date

# re.ASCII throughout: a bare \d would also accept other scripts' digits.
# Mobile numbers after the country code 60: 1X + 7 digits, or 11 + 8 digits.
# 015 (IP telephony) is left out on purpose: it cannot be relied on to receive an SMS.
_MY_MOBILE = re.compile(r"1[02346789]\d{7}|11\d{8}", re.ASCII)
_INTERNATIONAL = re.compile(r"[1-9]\d{7,14}", re.ASCII)
_SEPARATORS = re.compile(r"[\s\-.()]")  # any Unicode space, e.g. a pasted no-break space
_MYKAD = re.compile(r"(\d{6})[- ]?(\d{2})[- ]?(\d{4})", re.ASCII)


def normalise_msisdn(raw: str) -> str:
    """Return the number in E.164 (``+60123456789``) or raise ValueError.

    Messages never echo the input: exceptions end up in logs, and numbers are personal data.
    """
    compact = _SEPARATORS.sub("", raw)
    if compact.startswith("+60"):
        return _malaysian(compact[3:])
    if compact.startswith("+"):
        if not _INTERNATIONAL.fullmatch(compact[1:]):
            raise ValueError("not a valid international number (8 to 15 digits)")
        return compact
    if compact.startswith("60"):
        return _malaysian(compact[2:])
    if compact.startswith("0"):
        return _malaysian(compact[1:])
    raise ValueError("not a Malaysian mobile number (expected e.g. 012-3456789)")


def _malaysian(national: str) -> str:
    if not _MY_MOBILE.fullmatch(national):
        raise ValueError("not a Malaysian mobile number (expected e.g. 012-3456789)")
    return "+60" + national


def validate_mykad(ic: str, today: date) -> str:
    """Return the 12 digits of a MyKad number or raise ValueError."""
    match = _MYKAD.fullmatch(ic.strip())
    if not match:
        raise ValueError("a MyKad number has 12 digits, as YYMMDD-PB-###G or without dashes")
    digits = "".join(match.groups())
    _birth_date(digits[:6], today)
    if digits[6:8] == "00":
        raise ValueError("the MyKad place-of-birth code cannot be 00")
    return digits


def _birth_date(yymmdd: str, today: date) -> date:
    yy, month, day = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    # Two-digit year: the latest century that does not put the birth after today.
    in_this_century = (2000 + yy, month, day) <= (today.year, today.month, today.day)
    year = (2000 if in_this_century else 1900) + yy
    try:
        born = date(year, month, day)
    except ValueError:
        raise ValueError("the MyKad number does not start with a real date (YYMMDD)") from None
    if born > today:
        raise ValueError("the MyKad birth date is in the future")
    return born
