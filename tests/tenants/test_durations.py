"""ISO 8601 durations as tenant files write them (tenants/durations.py)."""
from datetime import timedelta

import pytest

from tenants.durations import parse_duration


@pytest.mark.parametrize("text, expected", [
    ("P30D", timedelta(days=30)),
    ("PT5M", timedelta(minutes=5)),
    ("PT0.5S", timedelta(seconds=0.5)),
    ("PT60S", timedelta(seconds=60)),
    ("PT8H", timedelta(hours=8)),
    ("P2W", timedelta(weeks=2)),
    ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
    ("PT0S", timedelta(0)),
])
def test_valid_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", [
    "", "P", "PT", "P1DT", "PT5", "30", "5 minutes", "pt5m", " PT5M", "PT5M\n", "-PT5M",
    "P1M", "P1Y",  # months and years have no fixed length
    "P0.5D", "PT1,5S", "P99999999999D", 30, None, 1.5,
])
def test_invalid_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)
