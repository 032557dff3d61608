"""SQL implementation of `keys.KeyStore`, and a per-worker cache of each tenant's keys."""
import threading
import time
from datetime import datetime, timezone

from sqlalchemy import delete, select

from keys import KeyState, SigningKey, TenantKeys, published
from .storage.models import SigningKeyRow


class SqlKeyStore:
    def __init__(self, database):
        self.database = database

    def list_keys(self, tenant_id):
        with self.database.session() as s:
            rows = s.scalars(select(SigningKeyRow).where(SigningKeyRow.tenant_id == tenant_id))
            return [SigningKey(r.kid, r.alg, KeyState(r.state), r.public_jwk, r.sealed_private,
                               r.created_at, r.retire_after) for r in rows]

    def add_key(self, tenant_id, key):
        with self.database.session() as s:
            s.add(SigningKeyRow(tenant_id=tenant_id, kid=key.kid, alg=key.alg, state=key.state.value,
                                public_jwk=key.public_jwk, sealed_private=key.sealed_private,
                                created_at=key.created_at, retire_after=key.retire_after))

    def set_state(self, tenant_id, kid, state, retire_after):
        with self.database.session() as s:
            row = s.get(SigningKeyRow, (tenant_id, kid))
            row.state, row.retire_after = state.value, retire_after

    def delete_key(self, tenant_id, kid):
        with self.database.session() as s:
            s.execute(delete(SigningKeyRow).where(SigningKeyRow.tenant_id == tenant_id, SigningKeyRow.kid == kid))


class KeyCache:
    """Each worker signs with keys it loaded at most `refresh_seconds` ago, so a rotation made by
    the CLI reaches every worker without a restart."""

    def __init__(self, store: SqlKeyStore, master: bytes, refresh_seconds: float):
        self.store, self.master, self.refresh_seconds = store, master, refresh_seconds
        self._loaded: dict[str, tuple[float, TenantKeys, tuple]] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: str) -> TenantKeys:
        hit = self._loaded.get(tenant_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        keys, now = self.store.list_keys(tenant_id), datetime.now(timezone.utc)
        # a retired key leaves the JWKS at its retire_after, before a rotation deletes it
        fingerprint = tuple(sorted((k.kid, k.state.value, published(k, now)) for k in keys))
        with self._lock:
            if hit and hit[2] == fingerprint:
                tenant_keys = hit[1]
            else:
                tenant_keys = TenantKeys(tenant_id, keys, self.master, now)
            self._loaded[tenant_id] = (time.monotonic() + self.refresh_seconds, tenant_keys, fingerprint)
        return tenant_keys

    def invalidate(self, tenant_id: str | None = None):
        with self._lock:
            if tenant_id:
                self._loaded.pop(tenant_id, None)
            else:
                self._loaded.clear()
