from datetime import datetime, timedelta, timezone

import pytest

from policies.dormancy import is_dormant

ACTIVATED = datetime(2024, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)
PERIOD = timedelta(days=180)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("elapsed", "dormant"),
    [(timedelta(0), False), (PERIOD - S, False), (PERIOD, False), (PERIOD + S, True),
     (PERIOD + timedelta(microseconds=1), True), (PERIOD * 3, True)],
)
def test_after_last_sign_in(elapsed, dormant):
    assert is_dormant(LAST, ACTIVATED, LAST + elapsed, PERIOD) is dormant


@pytest.mark.parametrize(
    ("elapsed", "dormant"), [(PERIOD, False), (PERIOD + S, True)]
)
def test_never_signed_in_counts_from_activation(elapsed, dormant):
    assert is_dormant(None, ACTIVATED, ACTIVATED + elapsed, PERIOD) is dormant


def test_last_sign_in_takes_precedence_over_activation():
    now = ACTIVATED + PERIOD + timedelta(days=10)
    assert is_dormant(None, ACTIVATED, now, PERIOD)
    assert not is_dormant(now - timedelta(days=1), ACTIVATED, now, PERIOD)


def test_no_period_means_never_dormant():
    assert not is_dormant(None, ACTIVATED, ACTIVATED + timedelta(days=36500), None)


def test_other_timezones_compare_by_instant():
    myt = timezone(timedelta(hours=8))
    assert not is_dormant(LAST, ACTIVATED, (LAST + PERIOD).astimezone(myt), PERIOD)
    assert is_dormant(LAST, ACTIVATED, (LAST + PERIOD + S).astimezone(myt), PERIOD)


def test_naive_refused():
    with pytest.raises(ValueError):
        is_dormant(None, datetime(2024, 1, 1), datetime(2025, 1, 1), PERIOD)
