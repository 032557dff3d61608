"""Account life cycle as an enum with explicit legal transitions (STYLE.md rule 8).

OWASP ASVS 5.0 6.4.1 (initial credentials are short-lived: a pending account is activated or
terminated, never left usable) and the tenants' seed documents (dormant accounts reactivated or
terminated by the helpdesk). Termination is final so an identifier is never silently revived.
"""

from __future__ import annotations

from enum import Enum


class AccountState(str, Enum):
    PENDING_ACTIVATION = "pending_activation"
    ACTIVE = "active"
    LOCKED = "locked"
    DORMANT = "dormant"
    DEACTIVATED = "deactivated"
    TERMINATED = "terminated"


_S = AccountState

LEGAL_TRANSITIONS: dict[AccountState, frozenset[AccountState]] = {
    # pending -> pending re-issues the activation code or temporary password.
    _S.PENDING_ACTIVATION: frozenset({_S.PENDING_ACTIVATION, _S.ACTIVE, _S.TERMINATED}),
    _S.ACTIVE: frozenset({_S.LOCKED, _S.DORMANT, _S.DEACTIVATED, _S.TERMINATED}),
    _S.LOCKED: frozenset({_S.ACTIVE, _S.DEACTIVATED, _S.TERMINATED}),
    _S.DORMANT: frozenset({_S.ACTIVE, _S.DEACTIVATED, _S.TERMINATED}),
    _S.DEACTIVATED: frozenset({_S.ACTIVE, _S.TERMINATED}),
    _S.TERMINATED: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, current: AccountState, target: AccountState) -> None:
        super().__init__(f"account cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def can_transition(current: AccountState, target: AccountState) -> bool:
    return AccountState(target) in LEGAL_TRANSITIONS[AccountState(current)]


def transition(current: AccountState, target: AccountState) -> AccountState:
    """Return ``target`` if the move is legal, else raise IllegalTransition."""
    current, target = AccountState(current), AccountState(target)
    if target not in LEGAL_TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return target


# A lock after wrong passwords guards against password guessing, not what the account already
# holds (its grants, its live SSO sessions): anyone who knows a user ID can cause one (ASVS 6.3.1:
# brute-force protection must not deny service). It refuses new password checks only.
HOLDING_STATES = (AccountState.ACTIVE, AccountState.LOCKED)


def can_sign_in(state: AccountState) -> bool:
    """Only active accounts sign in; a timed lock is judged by ``lockout.is_locked``."""
    return AccountState(state) is AccountState.ACTIVE
