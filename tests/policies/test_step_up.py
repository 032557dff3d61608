from datetime import datetime, timedelta, timezone

import pytest

from policies.step_up import acr_satisfied, effective_acr

PWD = "urn:kwsp:acr:pwd"
TAC = "urn:kwsp:acr:tac"
LADDER = (PWD, TAC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
LIFE = timedelta(minutes=5)
S = timedelta(seconds=1)


def check(requested, session_acr, age=timedelta(0)):
    acr_time = None if age is None else NOW - age
    return acr_satisfied(requested, session_acr, acr_time, NOW, LADDER, LIFE)


@pytest.mark.parametrize(
    ("requested", "session_acr", "expected"),
    [
        ((), None, ()),
        ((), PWD, ()),
        (("urn:other:acr",), None, ()),  # unknown values are voluntary
        (("urn:other:acr", "0"), PWD, ()),
        ((PWD,), PWD, ()),
        ((PWD,), TAC, ()),
        ((TAC,), TAC, ()),
        ((TAC,), PWD, ("acr_too_low",)),
        ((TAC,), None, ("acr_too_low",)),
        ((PWD,), None, ("acr_too_low",)),
        ((PWD,), "urn:other:acr", ("acr_too_low",)),
        ((TAC, PWD), PWD, ()),  # the weakest known requested value decides
        ((TAC, "urn:other:acr"), PWD, ("acr_too_low",)),
        (("urn:other:acr", TAC), TAC, ()),
    ],
)
def test_levels(requested, session_acr, expected):
    assert check(requested, session_acr).reasons == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), ()),
        (LIFE - S, ()),
        (LIFE, ()),  # reached exactly step_up_lifetime ago still counts
        (LIFE + timedelta(microseconds=1), ("step_up_expired",)),
        (LIFE + S, ("step_up_expired",)),
        (None, ("step_up_expired",)),  # no time recorded: fail closed
    ],
)
def test_step_up_expires(age, expected):
    assert check((TAC,), TAC, age).reasons == expected


@pytest.mark.parametrize("age", [timedelta(0), LIFE + S, timedelta(days=1), None])
def test_base_level_request_is_met_by_any_known_session(age):
    assert check((PWD,), TAC, age)
    assert check((PWD,), PWD, age)


def test_three_level_ladder():
    ladder = ("a", "b", "c")
    assert acr_satisfied(("b",), "c", NOW, NOW, ladder, LIFE)
    assert acr_satisfied(("c",), "b", NOW, NOW, ladder, LIFE).reasons == ("acr_too_low",)
    expired = NOW - LIFE - S
    assert acr_satisfied(("b",), "c", expired, NOW, ladder, LIFE).reasons == ("step_up_expired",)


def test_naive_time_refused():
    with pytest.raises(ValueError):
        acr_satisfied((TAC,), TAC, datetime(2025, 6, 1), NOW, LADDER, LIFE)


@pytest.mark.parametrize(
    ("session_acr", "age", "expected"),
    [
        (TAC, timedelta(0), TAC),
        (TAC, LIFE, TAC),
        (TAC, LIFE + S, PWD),  # step-down
        (TAC, None, PWD),
        (PWD, timedelta(days=30), PWD),
        ("urn:other:acr", LIFE + S, "urn:other:acr"),
    ],
)
def test_effective_acr(session_acr, age, expected):
    acr_time = None if age is None else NOW - age
    assert effective_acr(session_acr, acr_time, NOW, LADDER, LIFE) == expected


def test_empty_ladder_refused():
    with pytest.raises(ValueError):
        effective_acr(PWD, NOW, NOW, (), LIFE)
