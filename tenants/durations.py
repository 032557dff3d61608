"""ISO 8601 durations (`P30D`, `PT5M`, `PT0.5S`) as used in tenant files.

Only the calendar-free designators (weeks, days, hours, minutes, seconds) are accepted:
a month or a year has no fixed length, and policy windows must be exact.
"""
import re
from datetime import timedelta

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.fullmatch(text) if isinstance(text, str) else None  # `$` alone accepts a trailing newline
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P30D or PT5M")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    out = f"P{days}D" if days else "P"
    return out + (f"T{rest}S" if rest or not days else "")
