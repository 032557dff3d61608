"""Speed for the protocol suite: every test builds a fresh app (three tenants, each with its own
RSA key) and signs a user in. RSA key generation and argon2 at production cost would dominate the
run, and neither is what these tests are about (keys and passwords have their own suites), so:

- RSA private keys come from a small pool made once per session; each tenant of an app still gets
  a different key (a pool of six, handed out in turn), and kid, sealing and JWKS are untouched;
- argon2id runs at its minimum cost;
- the database starts as a copy of one migrated by the real migrations once per session.
"""
import itertools
import shutil
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from joserfc.jwk import RSAKey

from idp import provider as provider_module
from idp.accounts import Passwords
from idp.storage.db import make_engine, migrate
from keys import keyset

POOL_SIZE = 6  # > the three tenants of one app, so no two tenants share a key


@pytest.fixture(scope="session")
def rsa_pool():
    return [RSAKey.generate_key(2048, private=True).raw_value for _ in range(POOL_SIZE)]


class PooledRSA:
    """Stands in for RSAKey where keys/keyset.py generates and re-imports tenant keys: keys of
    the pool are rebuilt from the loaded key object (cryptography's import check costs as much
    as generating one); any other key is imported as usual."""

    def __init__(self, pool):
        self.pool, self.turn = pool, itertools.count()
        self.by_modulus = {RSAKey.import_key(k).as_dict()["n"]: k for k in pool}

    def generate(self, params):
        return RSAKey.import_key(self.pool[next(self.turn) % POOL_SIZE], parameters=params)

    def import_key(self, data):
        params = {k: data[k] for k in ("kid", "alg", "use") if k in data}
        pooled = self.by_modulus.get(data.get("n"))
        return RSAKey.import_key(pooled, parameters=params) if pooled else RSAKey.import_key(data)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file
    engine.dispose()
    return path


@pytest.fixture(autouse=True)
def migrated_copy(monkeypatch, migrated_template):
    def from_template(engine):
        target = engine.url.database
        if engine.url.get_backend_name() == "sqlite" and target and not Path(target).exists():
            shutil.copyfile(migrated_template, target)
        else:
            migrate(engine)
    monkeypatch.setattr(provider_module, "migrate", from_template)


@pytest.fixture(autouse=True)
def fast_crypto(monkeypatch, rsa_pool):
    rsa = PooledRSA(rsa_pool)

    def cheap_hasher(tenant):
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)

    monkeypatch.setitem(keyset.ALGORITHMS, "RS256", rsa.generate)
    monkeypatch.setitem(keyset._IMPORTERS, "RSA", rsa)
    monkeypatch.setattr(Passwords, "_hasher", staticmethod(cheap_hasher))
