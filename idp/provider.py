"""The provider: every tenant's server, stores and services, built once per process."""
from urllib.parse import urlsplit
from datetime import datetime, timezone

from .accounts import AccountDirectory, Passwords
from .audit import SqlAudit
from .clients import ClientRegistry
from .delivery import senders
from .ephemeral import open_store
from .keystore import KeyCache, SqlKeyStore
from .lifecycle import Lifecycle
from .organisations import Organisations
from .outgoing import Outgoing
from .signin import activation_lapsed, awaited_credential, holds_awaited_credential, sign_in
from .oauth.server import build_server
from .sessions import Sessions
from .storage.db import Database, migrate, starting_alone
from keys import ensure_keys
from policies.account_state import HOLDING_STATES, AccountState
from tenants import load_tenants


class Provider:
    def __init__(self, settings: dict, migrate_schema: bool = True):
        self.settings = settings
        self.public_url = settings["IDP_PUBLIC_URL"]
        self.master = settings["IDP_SECRET_KEY"].encode()
        self.tenants = load_tenants(settings.get("IDP_TENANTS_DIR"))
        senders(settings)  # a wrong delivery setting stops start-up, before anyone is sent nothing
        self.database = Database(settings["IDP_DATABASE_URL"])
        with starting_alone(self.database) as start:
            self._prepare(start, migrate_schema)
        self.store = open_store(settings, self.database)
        self.audit = SqlAudit(self.database)
        self.passwords = Passwords(self.tenants)
        self.accounts = AccountDirectory(self.database, self.passwords)
        self.clients = ClientRegistry(self.database, self.master, settings["IDP_CLIENT_CACHE_SECONDS"])
        self.key_store = SqlKeyStore(self.database)
        self.keys = KeyCache(self.key_store, self.master, settings["IDP_KEY_REFRESH_SECONDS"])
        self.organisations = Organisations(self.database)
        self.outgoing = Outgoing(self)
        self.lifecycle = Lifecycle(self)
        self.sessions = Sessions(self.store, secure=_secure_cookies(self.public_url))
        self.servers = {tid: build_server(self, t) for tid, t in self.tenants.items()}

    def _prepare(self, start, migrate_schema):
        """The schema at its newest revision, and signing keys for every tenant (first start)."""
        if migrate_schema:
            migrate(start.bind)
        key_store, now = SqlKeyStore(start), datetime.now(timezone.utc)
        for tenant in self.tenants.values():
            ensure_keys(key_store, tenant.id, self.master, now)

    def issuer(self, tenant) -> str:
        return tenant.issuer(self.public_url)

    # --- accounts, as the grants and flows see them
    def sign_in(self, tenant, username, password, ip):
        return sign_in(self, tenant, username, password, ip)

    def may_continue(self, tenant, account, session) -> bool:
        """Whether a session's account may go on through the flows: active (or locked by others'
        wrong passwords), or pending with its activation window open (it must then change its
        temporary password, the one that opened this session: after a re-issue only the new one
        will do)."""
        if account is None:
            return False
        if awaited_credential(account) and not holds_awaited_credential(account, session.get("credential")):
            return False
        if account.state == AccountState.PENDING_ACTIVATION:
            return not activation_lapsed(account)
        return account.state in HOLDING_STATES  # a lock others caused does not end a live session

    def user_claims(self, tenant, account_id: str, scope: str, extra=()) -> dict:
        """Claims released for `scope` (OIDC Core 5.4) plus individually requested ones (5.5)."""
        wanted = set(extra)
        for name in scope.split():
            wanted.update(tenant.scopes.get(name, ()))
        if not wanted:
            return {"sub": account_id}  # the usual ID token: no need to read the account
        account = self.accounts.get(tenant.id, account_id)
        if account is None:
            return {"sub": account_id}
        values = {
            "name": account.name, "preferred_username": account.username, "locale": account.locale,
            "updated_at": int(account.updated_at.timestamp()) if account.updated_at else None,
            "email": account.email, "email_verified": False if account.email else None,
            "phone_number": account.phone, "phone_number_verified": False if account.phone else None,
            "member_number": account.member_number, "employer_number": account.employer_number,
            "organisation": self._organisation(tenant, account),
        }
        claims = {k: values[k] for k in wanted if values.get(k) is not None}
        return {"sub": account.id, **claims}

    def _organisation(self, tenant, account):
        org = account.organisation_id and self.organisations.find(tenant.id, account.organisation_id)
        return self.organisations.claim(org) if org else None

    def revoke_grant(self, tenant, grant_id: str, reason: str, client_id: str | None = None,
                     subject: str | None = None, ip: str | None = None) -> None:
        ttl = tenant.tokens.refresh_token_lifetime.total_seconds()
        count = self.store.revoke_family(grant_id, ttl)
        self.audit.record(tenant.id, "grant.revoked", subject=subject, client_id=client_id, ip=ip, reason=reason,
                          grant_id=grant_id, entries=count)


def _secure_cookies(public_url: str) -> bool:
    """Secure cookies everywhere but plain-http loopback (a browser drops them there)."""
    parts = urlsplit(public_url)
    return not (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"))
