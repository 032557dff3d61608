"""Accounts in the durable store: creation, lookup and password verification.

Passwords: argon2id with the tenant's parameters, NFKC-normalised first (NIST SP 800-63B),
rehashed at sign-in when the tenant's parameters change. An unknown username costs the same
hash verification as a wrong password, so timing does not reveal which one it was.
"""
import hmac
import time
import unicodedata
import uuid
from datetime import datetime, timezone

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from policies.passwords import PasswordRules, check_new_password, tenant_words
from .storage.db import Compiled, dbapi_connection
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
        self._dummy_seconds = {tid: 0.0 for tid in self._hashers}  # how long a dummy check takes, lately

    @staticmethod
    def _hasher(tenant):
        p = tenant.password
        return PasswordHasher(time_cost=p.argon2_time_cost, memory_cost=p.argon2_memory_cost,
                              parallelism=p.argon2_parallelism, type=Type.ID)

    def hash(self, tenant_id: str, password: str) -> str:
        return self._hashers[tenant_id].hash(normalise_password(password))

    def verify(self, tenant_id: str, stored: str | None, password: str) -> bool:
        hasher, password = self._hashers[tenant_id], normalise_password(password)
        # no argon2 hash to check (no account, or an activation code's HMAC): the same argon2 work
        # on the dummy, so the answer takes as long as a real check (no enumeration by timing)
        usable = bool(stored) and stored.startswith("$argon2")
        started = time.perf_counter()
        try:
            return hasher.verify(stored if usable else self._dummy[tenant_id], password) and usable
        except (VerificationError, InvalidHashError):
            if usable and self.needs_rehash(tenant_id, stored):
                # a hash made before the tenant changed its cost checks in another time than the
                # dummy an unknown user ID meets: a refusal answers no sooner than the dummy does
                # (a costlier old hash cannot be made cheaper; the next sign-in upgrades it)
                if not self._dummy_seconds[tenant_id]:
                    self.verify(tenant_id, None, password)  # not timed yet in this process: time it now
                time.sleep(max(0.0, self._dummy_seconds[tenant_id] - (time.perf_counter() - started)))
            return False
        finally:
            if not usable:  # a moving average: the machine's speed drifts
                took = time.perf_counter() - started
                self._dummy_seconds[tenant_id] = 0.8 * (self._dummy_seconds[tenant_id] or took) + 0.2 * took

    def needs_rehash(self, tenant_id: str, stored: str) -> bool:
        try:
            return self._hashers[tenant_id].check_needs_rehash(stored)
        except (InvalidHashError, ValueError):  # not a hash argon2 can read: nothing to keep
            return True

    @staticmethod
    def problems(tenant, password: str, *, username: str, national_id: str = "", reused=False) -> list[str]:
        """Every rule of the tenant's password policy that `password` breaks (reason codes), for
        the helpdesk's CLI and self-service alike; `reused` is the caller's argon2 check."""
        rules = PasswordRules(tenant.password.min_length, tenant.password.max_length, tenant.password.history)
        words = tenant_words(tenant.id, tenant.display_name.values())
        return list(check_new_password(password, rules, username=username, national_id=national_id,
                                       tenant_words=words, reused=reused).reasons)


class AccountDirectory:
    """Reads return the account's row (attribute access like the model, read-only): a Core
    select costs a fifth of loading an ORM object, and a sign-in reads the account several
    times. Writes go through `update` and `create`."""

    def __init__(self, database, passwords: Passwords):
        self.database, self.passwords = database, passwords
        # built once with parameters (see idp/storage/db.py, Compiled)
        table, tenant = Account.__table__, bindparam("tenant")
        self._by_id = select(table).where(table.c.id == bindparam("account"), table.c.tenant_id == tenant)
        self._by_username = select(table).where(table.c.tenant_id == tenant, table.c.username_key == bindparam("key"))
        self._by_identity = select(table).where(table.c.tenant_id == tenant, table.c.national_id == bindparam("ic"),
                                                table.c.phone == bindparam("phone"))
        self._in_state = select(table).where(table.c.tenant_id == tenant, table.c.state == bindparam("state"))
        self._state = Compiled(select(table.c.state).where(table.c.id == bindparam("account"),
                                                           table.c.tenant_id == tenant),
                               database.engine.dialect)
        self._touch = update(table).where(table.c.id == bindparam("account"), table.c.tenant_id == tenant).values(
            last_sign_in_at=bindparam("when"))

    def _rows(self, statement, **values):
        with self.database.engine.connect() as connection:
            return connection.execute(statement, values).all()

    def _first(self, statement, **values):
        rows = self._rows(statement, **values)
        return rows[0] if rows else None

    def get(self, tenant_id: str, account_id: str):
        return self._first(self._by_id, account=account_id, tenant=tenant_id)

    def state(self, tenant_id: str, account_id: str) -> str | None:
        """Just the state: asked on every refresh and code exchange, so straight on the driver."""
        with dbapi_connection(self.database.engine) as connection:
            row = self._state.first(connection, {"account": account_id, "tenant": tenant_id})
        return row[0] if row else None

    def touch(self, tenant_id: str, account_id: str, when: datetime) -> None:
        """Record a sign-in (the dormancy clock): one UPDATE, no ORM unit of work."""
        with self.database.engine.begin() as connection:
            connection.execute(self._touch, {"account": account_id, "tenant": tenant_id, "when": when})

    def find(self, tenant_id: str, username: str):
        return self._first(self._by_username, tenant=tenant_id, key=username_key(username))

    def find_by_identity(self, tenant_id: str, national_id: str, phone: str):
        return self._first(self._by_identity, tenant=tenant_id, ic=national_id, phone=phone)

    def in_state(self, tenant_id: str, state: str) -> list:
        return self._rows(self._in_state, tenant=tenant_id, state=state)

    def take_recovery_code(self, tenant_id: str, account_id: str, code_hash: str) -> int | None:
        """Strike one recovery code from the account's list: how many are left, or None when it
        is not (or no longer) there. The row is written before the list is read, so the read
        happens under the write lock (a row lock on PostgreSQL, the database's on SQLite): two
        uses at once never both find one code, nor write back a list the other changed."""
        with self.database.session() as s:
            where = (Account.id == account_id, Account.tenant_id == tenant_id)
            s.execute(update(Account).where(*where).values(totp_recovery_codes=Account.totp_recovery_codes))
            codes = s.scalar(select(Account.totp_recovery_codes).where(*where)) or []
            remaining = [h for h in codes if not hmac.compare_digest(h, code_hash)]
            if len(remaining) == len(codes):
                return None
            s.execute(update(Account).where(*where).values(totp_recovery_codes=remaining, updated_at=utcnow()))
            return len(remaining)

    def update(self, tenant_id: str, account_id: str, *, expect=None, **values) -> Account | None:
        """Set `values`. With `expect(account) -> bool`, only if it holds for the account as it is
        now: the row is locked first (a no-op UPDATE: a row lock on PostgreSQL, the write lock on
        SQLite), so a change decided on an earlier read cannot overwrite one made since. None
        when `expect` does not hold."""
        with self.database.session() as s:
            if expect is not None:
                s.execute(update(Account).where(Account.id == account_id).values(state=Account.state))
            account = s.get(Account, account_id, populate_existing=True)
            if account is None or account.tenant_id != tenant_id:
                raise AccountError("no such account")
            if expect is not None and not expect(account):
                return None
            for key, value in values.items():
                setattr(account, key, value)
            account.updated_at = utcnow()
            return account

    def delete(self, tenant_id: str, account_id: str) -> None:
        """Remove an account that never came to be (its first credential could not be sent)."""
        with self.database.engine.begin() as connection:
            connection.execute(delete(Account.__table__).where(Account.id == account_id,
                                                               Account.tenant_id == tenant_id))

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
