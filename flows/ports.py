"""The narrow storage and delivery protocols flows depend on; `idp/` implements them.

The ephemeral contract follows node-oidc-provider's adapter: every write has a TTL, `consume`
is atomic (exactly one caller gets the payload), and everything issued under one grant can be
revoked with one call.
"""
from typing import Any, NamedTuple, Protocol

ROTATED, SPENT, REVOKED = "rotated", "spent", "revoked"  # what EphemeralStore.rotate did


class Successor(NamedTuple):
    """The entry a rotation stores (a new refresh token), as `put` takes it."""
    kind: str
    id: str
    payload: dict
    ttl: float
    grant_id: str


class EphemeralStore(Protocol):
    def put(self, kind: str, id: str, payload: dict, ttl: float, grant_id: str | None = None) -> None:
        """Store (or replace) an entry that disappears after `ttl` seconds, in its grant's family."""

    def replace(self, kind: str, id: str, payload: dict, ttl: float, expect: dict | None = None) -> bool:
        """Overwrite a live entry, keeping its grant; never bring back one that is gone (a
        session ended by logout while the same browser's request was still saving it). With
        `expect`, only if the entry still holds exactly that (what this request read): a write
        made meanwhile stands. Returns whether it was overwritten."""

    def get(self, kind: str, id: str) -> dict | None:
        """The entry's payload, or None when absent or expired."""

    def consume(self, kind: str, id: str) -> dict | None:
        """Atomically remove and return the entry: of concurrent callers exactly one gets it."""

    def retire(self, kind: str, id: str, to_kind: str, ttl: float | None = None,
               client_id: str | None = None, grant_id: str | None = None) -> dict | None:
        """Atomically move the entry to `to_kind` and return its payload, like `consume` but
        leaving the payload behind as a tombstone (a used code or refresh token, so a replay can
        be told from a value never issued). The tombstone expires `ttl` seconds from now, or
        when the entry would have (None). With `client_id`, only an entry whose payload names
        that client_id moves; another client's stays as it was (None). `grant_id`, the grant the
        entry was put under: the tombstone stays in its family, so revoking the grant ends it."""

    def rotate(self, kind: str, id: str, to_kind: str, client_id: str, successor: "Successor",
               ttl: float | None = None) -> str:
        """Spend a client's credential and store what replaces it, in one atomic step: `retire`
        (with `client_id`) of the entry, and `put` of the successor. Returns ROTATED; SPENT,
        writing nothing, when the entry is gone or not this client's (spent by a request that
        came first); REVOKED, writing nothing, while the successor's grant is marked revoked (a
        token minted while its grant was being revoked must not outlive it). REVOKED is checked
        first: a reuse arriving after its grant's revocation is not reported again. Revoking
        the grant ends the tombstone with the successor."""

    def delete(self, kind: str, id: str, *more: str) -> None:
        """Remove entries of one kind (absent ones are no error), in one round trip."""

    def revoke_family(self, grant_id: str, mark_ttl: float) -> int:
        """Delete every entry written with this grant_id and mark the grant revoked for
        `mark_ttl` seconds (so stateless tokens of the grant are refused). Returns the count."""

    def is_revoked(self, grant_id: str) -> bool: ...

    def family(self, grant_id: str) -> list[dict]:
        """The payloads of the live entries written with this grant_id (before a revoke_family
        that must tell someone what it ends)."""

    def add_account_grant(self, account_id: str, grant_id: str, ttl: float) -> None:
        """List a grant under its account for `ttl` seconds (an offline_access grant outlives
        the account's sessions, so ending them does not reach it)."""

    def revoke_account_grants(self, account_id: str, mark_ttl: float) -> None:
        """`revoke_family` for every grant listed under the account (a reset, a deactivation)."""

    def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter that lives `ttl` seconds from its first increment."""

    def ping(self) -> None:
        """Raise when the store is unreachable (used to fail closed)."""


class Audit(Protocol):
    def record(self, tenant_id: str, event: str, *, outcome: str = "success", subject: str | None = None,
               actor: str | None = None, client_id: str | None = None, ip: str | None = None,
               **detail: Any) -> None: ...


class SignInOutcome(Protocol):
    account_id: str | None   # set only when the flow may continue with this account
    reason: str              # for the audit trail, never shown
    message: str             # catalog key shown to the user ("login.failed" for every refusal)
    credential: str | None   # when a first credential passed: its fingerprint, for set_password


class Accounts(Protocol):
    """What the self-service flows need from the account directory (idp/self_service.py)."""

    def sign_in(self, tenant, username: str, password: str, ip: str | None) -> SignInOutcome: ...

    def verify_password(self, tenant, account_id: str, password: str, ip: str | None) -> str:
        """Re-authentication of a signed-in user (step-up, phone change, TOTP changes): "ok", or
        why not: "locked", "throttled" (wait a moment) or "wrong"."""

    def password_problems(self, tenant, account_id: str, password: str) -> list[str]:
        """Reason codes of policies.passwords (empty when the password is acceptable)."""

    def set_password(self, tenant, account_id: str, password: str, ip: str | None, reason: str,
                     credential: str | None = None) -> bool:
        """A first password (reason activation or first_sign_in) needs the `credential` of the
        outcome that passed the activation code or temporary password; False when that is no
        longer the one the account awaits (a password was set with it, or the helpdesk re-issued)."""

    def check_activation_code(self, tenant, username: str, code: str, ip: str | None) -> SignInOutcome: ...

    def find_for_recovery(self, tenant, *, username: str = "", national_id: str = "", phone: str = "") -> str | None:
        """The account matching what the user typed, or None; the caller must not reveal which."""

    def send_tac(self, tenant, account_id: str | None, purpose: str, binding: str, locale: str,
                 details: str = "", to: str | None = None, claimed: dict | None = None) -> str:
        """Send a TAC bound to `binding` (to the registered number, or to `to` when proving a new
        one): "sent", "cooldown", "daily_cap", "delivery_failed" or "no_phone" (an account with
        no number, only when `claimed` is None: the user proved who they are). `claimed` is what the
        user typed to say who they are, so that no account is counted like an account (no
        enumeration through the daily cap)."""

    def reset_link_live(self, tenant, token: str) -> bool:
        """Whether an emailed reset link can still be used (looking does not use it)."""

    def redeem_reset_link(self, tenant, token: str, ip: str | None = None) -> str | None:
        """Use the link (once): the account it resets, or None for a link used, expired or
        superseded by a newer password. Audited either way."""

    def normalise_phone(self, raw: str) -> str | None: ...

    def change_phone(self, tenant, account_id: str, phone: str, actor: str, ip: str | None) -> None:
        """Save a proved number, tell the old one, audit."""

    def may_change_phone(self, tenant, account_id: str) -> bool: ...

    def new_totp_secret(self) -> str: ...

    def totp_provisioning(self, tenant, account_id: str, secret: str) -> dict:
        """Template values: the secret, its otpauth URI and a QR code (SVG data URI)."""

    def enrol_totp(self, tenant, account_id: str, secret: str, code: str, ip: str | None) -> list[str] | None:
        """Save the secret if `code` proves it; the one-time recovery codes, shown once."""

    def remove_totp(self, tenant, account_id: str, ip: str | None) -> None: ...

    def sessions_and_grants(self, tenant, account_id: str) -> tuple[list[dict], list[dict]]:
        """The account's sessions (sid, auth_time, seen_at, clients, current: this browser's) and
        its grants of offline access (grant, client_id, auth_time)."""

    def end_chosen(self, tenant, account_id: str, sids: list[str], grant_ids: list[str], ip: str | None) -> None:
        """End those of the account's sessions (never this browser's) and revoke those grants."""

    def verify_tac(self, tenant, binding: str, code: str) -> str:
        """"ok", "invalid", "expired" or "too_many_attempts"."""

    def has_totp(self, tenant, account_id: str | None) -> bool: ...

    def has_phone(self, tenant, account_id: str | None) -> bool: ...

    def username_of(self, tenant, account_id: str | None) -> str | None:
        """For the password manager on a form that asks for a password but not the user ID."""

    def verify_totp(self, tenant, account_id: str, code: str) -> bool: ...

    def send_username(self, tenant, account_id: str | None, locale: str, phone: str) -> str:
        """"sent", "cooldown" or "daily_cap", counted on the number typed (so the same whether
        or not an account matched)."""

    def send_reset_link(self, tenant, account_id: str | None, locale: str, claimed: dict | None = None) -> str:
        """Email a reset link when the tenant allows it and the account has an email: "sent"
        (also when there was no one to send to), or "delivery_failed" while email is failing
        (for any account alike). `claimed`, what the user typed to say who they are, keys the
        limits when no account matched (so that both take the same steps)."""
