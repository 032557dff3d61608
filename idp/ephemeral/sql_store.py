"""The embedded ephemeral store: rows with an expiry column, atomic through single statements
(`DELETE ... RETURNING` for consume, `INSERT ... ON CONFLICT` for put and incr)."""
import fcntl
import json
import os
import random
import threading
import time
from contextlib import contextmanager, nullcontext

from sqlalchemy import Float, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from ..storage.models import EphemeralEntry as E

_REVOKED = "revoked_grant"


class _SqliteWriters:
    """One writer at a time across threads and worker processes, queued on a lock file.

    SQLite allows one writer; a second one polls with growing sleeps (1, 2, 5, 10 ... 100 ms,
    the busy handler), which under load costs far more than the write itself. Queuing on
    flock(2) instead wakes the next writer as soon as the lock is free (docs/BENCHMARKS.md).
    """

    def __init__(self, path: str):
        self.path, self._fd, self._pid = path + ".writers", None, None
        self._threads = threading.Lock()

    def __enter__(self):
        self._threads.acquire()
        try:
            if self._pid != os.getpid():  # a descriptor inherited across fork would not exclude
                self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc):
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class SqlStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._writers = _SqliteWriters(database) if database and database != ":memory:" else nullcontext()
        # The hot statements are built once and executed with parameters: building and cache-keying
        # a statement per call cost more than running it (docs/BENCHMARKS.md).
        insert = self._insert(E)
        self._put = insert.on_conflict_do_update(
            index_elements=[E.kind, E.id],
            set_={k: insert.excluded[k] for k in ("payload", "counter", "grant_id", "expires_at")},
        )
        live = (E.kind == bindparam("kind"), E.id == bindparam("id"), E.expires_at > bindparam("now"))
        self._get = select(E.payload).where(*live)
        self._consume = delete(E).where(*live).returning(E.payload)
        self._clear = delete(E).where(E.kind == bindparam("to_kind"), E.id == bindparam("entry"),
                                      E.expires_at <= bindparam("now"))
        # an UPDATE may not reuse column names as parameter names
        self._retire = update(E).where(
            E.kind == bindparam("from_kind"), E.id == bindparam("entry"), E.expires_at > bindparam("now"),
        ).values(
            kind=bindparam("to_kind"), expires_at=func.coalesce(bindparam("until", type_=Float), E.expires_at),
        ).returning(E.payload)

    @contextmanager
    def _write(self):
        with self._writers, self.engine.begin() as conn:
            yield conn

    def _upsert(self, kind, id, payload, ttl, grant_id=None):
        values = dict(kind=kind, id=id, payload=json.dumps(payload), counter=0,
                      grant_id=grant_id, expires_at=time.time() + ttl)
        return self._put, values

    def put(self, kind, id, payload, ttl, grant_id=None):
        with self._write() as conn:
            conn.execute(*self._upsert(kind, id, payload, ttl, grant_id))
        if random.random() < 0.01:  # opportunistic purge keeps the table small
            self.purge()

    def get(self, kind, id):
        with self.engine.connect() as conn:
            row = conn.execute(self._get, {"kind": kind, "id": id, "now": time.time()}).first()
        return json.loads(row[0]) if row and row[0] is not None else None

    def consume(self, kind, id):
        with self._write() as conn:
            row = conn.execute(self._consume, {"kind": kind, "id": id, "now": time.time()}).first()
        return json.loads(row[0]) if row and row[0] is not None else None

    def retire(self, kind, id, to_kind, ttl=None):
        now = time.time()
        params = {"from_kind": kind, "entry": id, "to_kind": to_kind, "now": now,
                  "until": None if ttl is None else now + ttl}
        with self._write() as conn:
            conn.execute(self._clear, params)  # an expired tombstone left from before
            row = conn.execute(self._retire, params).first()
        return json.loads(row[0]) if row and row[0] is not None else None

    def delete(self, kind, id):
        with self._write() as conn:
            conn.execute(delete(E).where(E.kind == kind, E.id == id))

    def revoke_family(self, grant_id, mark_ttl):
        # one transaction, mark first: no moment where the family is gone but not yet marked
        with self._write() as conn:
            conn.execute(*self._upsert(_REVOKED, grant_id, {}, mark_ttl))
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
        with self._write() as conn:
            return conn.execute(stmt).scalar_one()

    def ping(self):
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def purge(self):
        with self._write() as conn:
            conn.execute(delete(E).where(E.expires_at <= time.time()))
