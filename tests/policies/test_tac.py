import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest

from policies.tac import (
    TacRules,
    expires_at,
    may_send,
    may_verify,
    new_tac,
    tac_binding,
    tac_matches,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
RULES = TacRules()
S = timedelta(seconds=1)


def test_defaults():
    assert RULES == TacRules(timedelta(minutes=5), 3, timedelta(seconds=60), 10, 10)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lifetime": timedelta(0)},
        {"lifetime": -S},
        {"lifetime": timedelta(minutes=10, microseconds=1)},
        {"lifetime": timedelta(minutes=11)},
        {"max_attempts": 0},
        {"max_attempts": 4},
        {"resend_cooldown": -S},
        {"daily_cap_account": 0},
        {"daily_cap_phone": 0},
    ],
)
def test_invalid_rules(kwargs):
    with pytest.raises(ValueError):
        TacRules(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"lifetime": timedelta(minutes=10)}, {"lifetime": S}, {"max_attempts": 1}]
)
def test_rule_limits_are_inclusive(kwargs):
    TacRules(**kwargs)


def test_new_tac_is_six_digits():
    codes = [new_tac() for _ in range(500)]
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    assert len(set(codes)) > 450


def test_new_tac_zero_pads(monkeypatch):
    monkeypatch.setattr("policies.tac.secrets.randbelow", lambda n: 42)
    assert new_tac() == "000042"


@pytest.mark.parametrize(
    ("since_last", "expected"),
    [(timedelta(0), ("cooldown",)), (59 * S, ("cooldown",)),
     (60 * S - timedelta(microseconds=1), ("cooldown",)), (60 * S, ()), (61 * S, ())],
)
def test_resend_cooldown(since_last, expected):
    assert may_send(NOW + since_last, NOW, 1, 1, RULES).reasons == expected


def test_first_send_has_no_cooldown():
    assert may_send(NOW, None, 0, 0, RULES)


@pytest.mark.parametrize(
    ("account", "phone", "expected"),
    [(9, 9, ()), (10, 0, ("daily_cap",)), (0, 10, ("daily_cap",)), (10, 10, ("daily_cap",)),
     (11, 11, ("daily_cap",))],
)
def test_daily_caps(account, phone, expected):
    assert may_send(NOW, None, account, phone, RULES).reasons == expected


def test_cooldown_and_cap_together():
    assert may_send(NOW, NOW, 10, 10, RULES).reasons == ("cooldown", "daily_cap")


@pytest.mark.parametrize(
    ("age", "expected"),
    [(timedelta(0), ()), (timedelta(minutes=5) - S, ()), (timedelta(minutes=5), ()),
     (timedelta(minutes=5, microseconds=1), ("expired",)),
     (timedelta(minutes=5) + S, ("expired",))],
)
def test_expiry_boundaries(age, expected):
    assert may_verify(NOW + age, NOW, 0, RULES).reasons == expected


@pytest.mark.parametrize(
    ("failed", "expected"),
    [(0, ()), (1, ()), (2, ()), (3, ("too_many_attempts",)), (4, ("too_many_attempts",))],
)
def test_attempt_boundaries(failed, expected):
    assert may_verify(NOW, NOW, failed, RULES).reasons == expected


def test_expired_and_exhausted_together():
    assert may_verify(NOW + timedelta(hours=1), NOW, 3, RULES).reasons == (
        "expired", "too_many_attempts",
    )


def test_expires_at():
    assert expires_at(NOW, TacRules(lifetime=timedelta(minutes=10))) == NOW + timedelta(minutes=10)


def test_naive_refused():
    with pytest.raises(ValueError):
        may_verify(datetime(2025, 6, 1), NOW, 0, RULES)


@pytest.mark.parametrize(
    ("entered", "ok"),
    [("012345", True), (" 012 345 ", True), ("012346", False), ("12345", False), ("", False),
     ("٠١٢٣٤٥", False)],
)
def test_tac_matches(entered, ok):
    assert tac_matches("012345", entered) is ok


def test_binding_is_stable_and_order_independent():
    one = tac_binding("portal", "withdraw", {"amount": "100.00", "account": "123"})
    two = tac_binding("portal", "withdraw", {"account": "123", "amount": "100.00"})
    assert one == two
    assert re.fullmatch(r"[0-9a-f]{64}", one)
    # A fixed value guards against accidental changes to the canonical form.
    canonical = b'{"client_id":"c","details":null,"purpose":"p"}'
    assert tac_binding("c", "p", None) == hashlib.sha256(canonical).hexdigest()


@pytest.mark.parametrize(
    "other",
    [
        ("other-portal", "withdraw", {"amount": "100.00", "account": "123"}),
        ("portal", "change_phone", {"amount": "100.00", "account": "123"}),
        ("portal", "withdraw", {"amount": "100.01", "account": "123"}),
        ("portal", "withdraw", {"amount": "100.00", "account": "123", "x": 1}),
    ],
)
def test_binding_changes_with_any_field(other):
    assert tac_binding(*other) != tac_binding(
        "portal", "withdraw", {"amount": "100.00", "account": "123"}
    )


def test_binding_rejects_unserialisable_details():
    with pytest.raises(TypeError):
        tac_binding("c", "p", object())
    with pytest.raises(ValueError):
        tac_binding("c", "p", float("nan"))
