"""The embedded ephemeral store: rows with an expiry column, atomic through single statements
(`DELETE ... RETURNING` for consume, `INSERT ... ON CONFLICT` for put and incr)."""
import json
import random
import time

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..storage.models import EphemeralEntry as E

_REVOKED = "revoked_grant"


class SqlStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def _upsert(self, kind, id, payload, ttl, grant_id=None):
        values = dict(kind=kind, id=id, payload=json.dumps(payload), counter=0,
                      grant_id=grant_id, expires_at=time.time() + ttl)
        stmt = self._insert(E).values(**values)
        return stmt.on_conflict_do_update(
            index_elements=[E.kind, E.id],
            set_={k: stmt.excluded[k] for k in ("payload", "counter", "grant_id", "expires_at")},
        )

    def put(self, kind, id, payload, ttl, grant_id=None):
        with self.engine.begin() as conn:
            conn.execute(self._upsert(kind, id, payload, ttl, grant_id))
        if random.random() < 0.01:  # opportunistic purge keeps the table small
            self.purge()

    def get(self, kind, id):
        stmt = select(E.payload).where(E.kind == kind, E.id == id, E.expires_at > time.time())
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return json.loads(row[0]) if row and row[0] is not None else None

    def consume(self, kind, id):
        stmt = (delete(E).where(E.kind == kind, E.id == id, E.expires_at > time.time())
                .returning(E.payload))
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return json.loads(row[0]) if row and row[0] is not None else None

    def delete(self, kind, id):
        with self.engine.begin() as conn:
            conn.execute(delete(E).where(E.kind == kind, E.id == id))

    def revoke_family(self, grant_id, mark_ttl):
        # one transaction, mark first: no moment where the family is gone but not yet marked
        with self.engine.begin() as conn:
            conn.execute(self._upsert(_REVOKED, grant_id, {}, mark_ttl))
            return conn.execute(delete(E).where(E.grant_id == grant_id)).rowcount

    def is_revoked(self, grant_id):
        return self.get(_REVOKED, grant_id) is not None

    def incr(self, key, ttl):
        now = time.time()
        stmt = self._insert(E).values(kind="counter", id=key, counter=1, expires_at=now + ttl)
        expired = E.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[E.kind, E.id],
            set_={
                "counter": case((expired, 1), else_=E.counter + 1),
                "expires_at": case((expired, now + ttl), else_=E.expires_at),
            },
        ).returning(E.counter)
        with self.engine.begin() as conn:
            return conn.execute(stmt).scalar_one()

    def ping(self):
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def purge(self):
        with self.engine.begin() as conn:
            conn.execute(delete(E).where(E.expires_at <= time.time()))
