import itertools

import pytest

from policies.account_state import (
    LEGAL_TRANSITIONS,
    AccountState,
    IllegalTransition,
    can_sign_in,
    can_transition,
    transition,
)

S = AccountState
LEGAL = {
    (S.PENDING_ACTIVATION, S.PENDING_ACTIVATION),
    (S.PENDING_ACTIVATION, S.ACTIVE),
    (S.PENDING_ACTIVATION, S.TERMINATED),
    (S.ACTIVE, S.LOCKED),
    (S.ACTIVE, S.DORMANT),
    (S.ACTIVE, S.DEACTIVATED),
    (S.ACTIVE, S.TERMINATED),
    (S.LOCKED, S.ACTIVE),
    (S.LOCKED, S.DEACTIVATED),
    (S.LOCKED, S.TERMINATED),
    (S.DORMANT, S.ACTIVE),
    (S.DORMANT, S.DEACTIVATED),
    (S.DORMANT, S.TERMINATED),
    (S.DEACTIVATED, S.ACTIVE),
    (S.DEACTIVATED, S.TERMINATED),
}
ALL_PAIRS = list(itertools.product(S, S))


def test_values_are_stable_strings():
    assert [s.value for s in S] == [
        "pending_activation", "active", "locked", "dormant", "deactivated", "terminated",
    ]
    assert S("active") is S.ACTIVE
    assert S.ACTIVE == "active"


def test_table_covers_every_state():
    assert set(LEGAL_TRANSITIONS) == set(S)
    assert {(a, b) for a, targets in LEGAL_TRANSITIONS.items() for b in targets} == LEGAL


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_transitions(current, target):
    assert transition(current, target) is target
    assert can_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transitions_raise(current, target):
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as caught:
        transition(current, target)
    assert isinstance(caught.value, ValueError)
    assert caught.value.current is current and caught.value.target is target


@pytest.mark.parametrize("target", list(S))
def test_terminated_is_final(target):
    with pytest.raises(IllegalTransition):
        transition(S.TERMINATED, target)


def test_accepts_plain_strings():
    assert transition("active", "locked") is S.LOCKED


def test_unknown_state_is_a_value_error():
    with pytest.raises(ValueError):
        transition("active", "frozen")


@pytest.mark.parametrize("state", list(S))
def test_only_active_accounts_sign_in(state):
    assert can_sign_in(state) is (state is S.ACTIVE)
