"""Key stores for the key tests: an in-memory one (the `keys.KeyStore` protocol at its plainest)
and the SQL one the provider uses, on SQLite."""
import dataclasses

import pytest

from idp.keystore import SqlKeyStore
from idp.storage.db import Database, migrate

MASTER = b"test-master-secret-0123456789abcdef"


class MemoryKeyStore:
    def __init__(self):
        self.rows: dict[tuple[str, str], object] = {}

    def list_keys(self, tenant_id):
        return [dataclasses.replace(k) for (t, _), k in self.rows.items() if t == tenant_id]

    def add_key(self, tenant_id, key):
        self.rows[(tenant_id, key.kid)] = dataclasses.replace(key)

    def set_state(self, tenant_id, kid, state, retire_after):
        key = self.rows[(tenant_id, kid)]
        self.rows[(tenant_id, kid)] = dataclasses.replace(key, state=state, retire_after=retire_after)

    def delete_key(self, tenant_id, kid):
        del self.rows[(tenant_id, kid)]


@pytest.fixture(params=["memory", "sql"])
def key_store(request, tmp_path):
    if request.param == "memory":
        yield MemoryKeyStore()
        return
    database = Database(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    migrate(database.engine)
    yield SqlKeyStore(database)
    database.engine.dispose()
