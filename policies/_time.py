"""Guard for the rule that every time a policy sees is timezone-aware.

A naive datetime compared with another naive one would silently mix local time and UTC across
nodes; refusing it early turns that bug into a loud one.
"""

from __future__ import annotations

from datetime import datetime


def aware(when: datetime, name: str = "time") -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return when
