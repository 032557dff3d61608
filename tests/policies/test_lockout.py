from datetime import datetime, timedelta, timezone

import pytest

from policies.lockout import LockoutRules, LockoutVerdict, after_failure, failure_delay, is_locked

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
RULES = LockoutRules()
S = timedelta(seconds=1)


def test_defaults():
    assert RULES == LockoutRules(10, timedelta(minutes=15), 3, timedelta(seconds=30))


@pytest.mark.parametrize("threshold", [1, 2, 10, 99, 100])
def test_threshold_within_nist_limit(threshold):
    assert LockoutRules(threshold=threshold).threshold == threshold


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"threshold": -1},
        {"threshold": 101},
        {"lock_duration": timedelta(0)},
        {"delay_after": 0},
        {"max_delay": -S},
    ],
)
def test_invalid_rules(kwargs):
    with pytest.raises(ValueError):
        LockoutRules(**kwargs)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (1, 0 * S), (2, 0 * S),  # below delay_after
        (3, 1 * S), (4, 2 * S), (5, 4 * S), (6, 8 * S), (7, 16 * S),
        (8, 30 * S), (9, 30 * S), (10, 30 * S), (50, 30 * S), (10_000, 30 * S),  # capped
    ],
)
def test_delay_doubles_from_one_second_and_is_capped(failures, delay):
    assert failure_delay(failures, RULES) == delay
    assert after_failure(failures, NOW, RULES).delay == delay


@pytest.mark.parametrize("failures", range(1, 10))
def test_no_lock_below_threshold(failures):
    assert after_failure(failures, NOW, RULES).locked_until is None


@pytest.mark.parametrize("failures", [10, 11, 100])
def test_lock_at_and_after_threshold(failures):
    verdict = after_failure(failures, NOW, RULES)
    assert verdict.locked_until == NOW + timedelta(minutes=15)


def test_attempt_9_vs_10():
    assert after_failure(9, NOW, RULES) == LockoutVerdict(None, 30 * S)
    assert after_failure(10, NOW, RULES) == LockoutVerdict(NOW + timedelta(minutes=15), 30 * S)


def test_custom_rules():
    rules = LockoutRules(threshold=1, lock_duration=timedelta(hours=1), delay_after=1,
                         max_delay=5 * S)
    assert after_failure(1, NOW, rules) == LockoutVerdict(NOW + timedelta(hours=1), S)
    assert failure_delay(4, rules) == 5 * S


def test_failures_count_includes_this_one():
    with pytest.raises(ValueError):
        after_failure(0, NOW, RULES)


def test_naive_now_refused():
    with pytest.raises(ValueError):
        after_failure(1, datetime(2025, 6, 1), RULES)


@pytest.mark.parametrize(
    ("offset", "locked"),
    [
        (-timedelta(minutes=15), True),
        (-S, True),
        (-timedelta(microseconds=1), True),
        (timedelta(0), False),  # unlocks automatically at locked_until
        (S, False),
    ],
)
def test_is_locked_boundaries(offset, locked):
    locked_until = NOW + timedelta(minutes=15)
    assert is_locked(locked_until, locked_until + offset) is locked


def test_never_locked():
    assert is_locked(None, NOW) is False
