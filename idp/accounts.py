"""Accounts in the durable store: creation, lookup and password verification.

Passwords: argon2id with the tenant's parameters, NFKC-normalised first (NIST SP 800-63B),
rehashed at sign-in when the tenant's parameters change. An unknown username costs the same
hash verification as a wrong password, so timing does not reveal which one it was.
"""
import unicodedata
import uuid
from datetime import datetime, timezone

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from .storage.models import Account


class AccountError(ValueError):
    pass


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def username_key(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def normalise_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


class Passwords:
    """argon2id hashers per tenant, and a dummy hash per tenant for unknown users."""

    def __init__(self, tenants):
        self._hashers = {t.id: self._hasher(t) for t in tenants.values()}
        self._dummy = {tid: h.hash("not-a-real-password") for tid, h in self._hashers.items()}

    @staticmethod
    def _hasher(tenant):
        p = tenant.password
        return PasswordHasher(time_cost=p.argon2_time_cost, memory_cost=p.argon2_memory_cost,
                              parallelism=p.argon2_parallelism, type=Type.ID)

    def hash(self, tenant_id: str, password: str) -> str:
        return self._hashers[tenant_id].hash(normalise_password(password))

    def verify(self, tenant_id: str, stored: str | None, password: str) -> bool:
        hasher = self._hashers[tenant_id]
        try:
            return hasher.verify(stored or self._dummy[tenant_id], normalise_password(password)) and bool(stored)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, tenant_id: str, stored: str) -> bool:
        return self._hashers[tenant_id].check_needs_rehash(stored)


class AccountDirectory:
    def __init__(self, database, passwords: Passwords):
        self.database, self.passwords = database, passwords
        # built once: asked on every token request (see idp/ephemeral/sql_store.py)
        self._state = select(Account.state).where(Account.id == bindparam("account"),
                                                  Account.tenant_id == bindparam("tenant"))

    def get(self, tenant_id: str, account_id: str) -> Account | None:
        with self.database.session() as s:
            account = s.get(Account, account_id)
            return account if account and account.tenant_id == tenant_id else None

    def state(self, tenant_id: str, account_id: str) -> str | None:
        """Just the state, without an ORM session: asked on every refresh and code exchange."""
        with self.database.engine.connect() as connection:
            return connection.execute(self._state, {"account": account_id, "tenant": tenant_id}).scalar()

    def touch(self, tenant_id: str, account_id: str, when: datetime) -> None:
        """Record a sign-in (the dormancy clock): one UPDATE, no ORM unit of work."""
        stmt = (update(Account).where(Account.id == account_id, Account.tenant_id == tenant_id)
                .values(last_sign_in_at=when))
        with self.database.engine.begin() as connection:
            connection.execute(stmt)

    def find(self, tenant_id: str, username: str) -> Account | None:
        with self.database.session() as s:
            return s.scalar(select(Account).where(
                Account.tenant_id == tenant_id, Account.username_key == username_key(username)))

    def find_by_identity(self, tenant_id: str, national_id: str, phone: str) -> Account | None:
        with self.database.session() as s:
            return s.scalars(select(Account).where(
                Account.tenant_id == tenant_id, Account.national_id == national_id, Account.phone == phone)).first()

    def in_state(self, tenant_id: str, state: str) -> list[Account]:
        with self.database.session() as s:
            return list(s.scalars(select(Account).where(Account.tenant_id == tenant_id, Account.state == state)))

    def update(self, tenant_id: str, account_id: str, **values) -> Account:
        with self.database.session() as s:
            account = s.get(Account, account_id)
            if account is None or account.tenant_id != tenant_id:
                raise AccountError("no such account")
            for key, value in values.items():
                setattr(account, key, value)
            account.updated_at = utcnow()
            return account

    def create(self, tenant, *, username: str, identity_type: str, state: str, password_hash=None,
               must_change_password=False, activation_deadline=None, activation_secret=None, **attributes) -> Account:
        if identity_type not in tenant.identity_types:
            raise AccountError(f"tenant {tenant.id!r} has no identity type {identity_type!r}; "
                               f"allowed {list(tenant.identity_types)}")
        name = (username or "").strip()
        if not (3 <= len(name) <= 64) or not name.isprintable() or " " in name:
            raise AccountError("username must be 3-64 printable characters without spaces")
        now = utcnow()
        account = Account(
            id=str(uuid.uuid4()), tenant_id=tenant.id, username=name, username_key=username_key(name),
            identity_type=identity_type, state=state, password_hash=password_hash, password_history=[],
            must_change_password=must_change_password, activation_deadline=activation_deadline,
            activation_secret=activation_secret, created_at=now, updated_at=now,
            activated_at=now if state == "active" else None, **attributes,
        )
        try:
            with self.database.session() as s:
                s.add(account)
        except IntegrityError:
            raise AccountError(f"username {name!r} already exists in tenant {tenant.id!r}") from None
        return account
