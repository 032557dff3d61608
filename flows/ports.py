"""The narrow storage and delivery protocols flows depend on; `idp/` implements them.

The ephemeral contract follows node-oidc-provider's adapter: every write has a TTL, `consume`
is atomic (exactly one caller gets the payload), and everything issued under one grant can be
revoked with one call.
"""
from typing import Any, Protocol


class EphemeralStore(Protocol):
    def put(self, kind: str, id: str, payload: dict, ttl: float, grant_id: str | None = None) -> None:
        """Store (or replace) an entry that disappears after `ttl` seconds."""

    def get(self, kind: str, id: str) -> dict | None:
        """The entry's payload, or None when absent or expired."""

    def consume(self, kind: str, id: str) -> dict | None:
        """Atomically remove and return the entry: of concurrent callers exactly one gets it."""

    def delete(self, kind: str, id: str) -> None: ...

    def revoke_family(self, grant_id: str, mark_ttl: float) -> int:
        """Delete every entry written with this grant_id and mark the grant revoked for
        `mark_ttl` seconds (so stateless tokens of the grant are refused). Returns the count."""

    def is_revoked(self, grant_id: str) -> bool: ...

    def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter that lives `ttl` seconds from its first increment."""

    def ping(self) -> None:
        """Raise when the store is unreachable (used to fail closed)."""


class Audit(Protocol):
    def record(self, tenant_id: str, event: str, *, outcome: str = "success", subject: str | None = None,
               actor: str | None = None, client_id: str | None = None, ip: str | None = None,
               **detail: Any) -> None: ...


class Accounts(Protocol):
    """What sign-in flows need from the account directory (idp/ implements it)."""

    def sign_in(self, tenant, username: str, password: str, ip: str | None) -> "SignInOutcome": ...


class SignInOutcome(Protocol):
    account_id: str | None   # set only when the password was right and the account may sign in
    reason: str             # "ok", or why not (never shown to the user: no enumeration)
