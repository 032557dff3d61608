"""The embedded ephemeral store: rows with an expiry column, atomic through single statements
(`DELETE ... RETURNING` for consume, `UPDATE ... RETURNING` for retire, `INSERT ... ON CONFLICT`
for put and incr).

Every call of a sign-in, a code exchange or a refresh lands here several times, so the statements
are compiled once for the engine's driver and run on a pooled DBAPI connection (`storage.db.Compiled`).
"""
import fcntl
import json
import os
import random
import threading
import time
from contextlib import contextmanager, nullcontext

from sqlalchemy import Float, String, bindparam, case, cast, delete, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from flows.ports import REVOKED, ROTATED, SPENT, Successor
from . import ACCOUNT_GRANT, account_grants, fit_id
from ..storage.db import SQLITE_BUSY_MS, Compiled, dbapi_connection
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
        except OSError as error:  # the database's directory is gone or unwritable: the store is down
            self._threads.release()
            raise OperationalError(f"lock {self.path}", None, error) from error
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *exc):
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    @contextmanager
    def writing(self, connection):
        """Hold the queue for a write on `connection`. Time spent queued comes off SQLite's busy
        timeout: while another process holds the database, each writer would otherwise wait it
        out in turn, the n-th n times over, instead of all failing (503) within it."""
        started = time.monotonic()
        with self:
            queued_ms = (time.monotonic() - started) * 1000
            if queued_ms < 1:
                yield
                return
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={max(int(SQLITE_BUSY_MS - queued_ms), 0)}")
            try:
                yield
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
                cursor.close()


class SqlStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(E)
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        writers = _SqliteWriters(database) if database and database != ":memory:" else None
        self._writing = writers.writing if writers else lambda connection: nullcontext()
        # parameter names differ from column names: SQLAlchemy reserves those in INSERT and UPDATE
        live = (E.kind == bindparam("k"), E.id == bindparam("i"), E.expires_at > bindparam("now"))
        expired = E.expires_at <= bindparam("now")
        # the payload's client_id as JSON, so that only a string equal to the one asked for matches
        if engine.dialect.name == "postgresql":
            client_of = func.jsonb_extract_path(cast(E.payload, postgresql.JSONB), literal_column("'client_id'"))
            owner = func.to_jsonb(bindparam("owner", type_=String))
        else:
            client_of = func.json_extract(E.payload, literal_column("'$.client_id'"))
            owner = bindparam("owner", type_=String)
        family_revoked = select(E.id).where(
            E.kind == literal_column(f"'{_REVOKED}'"), E.id == bindparam("m", type_=String),
            E.expires_at > bindparam("now", type_=Float)).exists()
        entry = [bindparam(name, type_=type_) for name, type_ in (("k", String), ("i", String), ("p", String))]
        put_live = insert.from_select(
            ["kind", "id", "payload", "counter", "grant_id", "expires_at"],
            select(*entry, literal_column("0"), bindparam("g", type_=String), bindparam("until", type_=Float))
            .where(~family_revoked))
        statements = {
            "put": insert.values(kind=bindparam("k"), id=bindparam("i"), payload=bindparam("p"),
                                 counter=literal_column("0"), grant_id=bindparam("g"), expires_at=bindparam("until"))
            .on_conflict_do_update(index_elements=[E.kind, E.id], set_={
                c: insert.excluded[c] for c in ("payload", "counter", "grant_id", "expires_at")}),
            "put_live": put_live.on_conflict_do_update(index_elements=[E.kind, E.id], set_={
                c: put_live.excluded[c] for c in ("payload", "counter", "grant_id", "expires_at")}),
            "replace": update(E).where(*live).values(payload=bindparam("p"), expires_at=bindparam("until")),
            "replace_if": update(E).where(*live, E.payload == bindparam("was")).values(
                payload=bindparam("p"), expires_at=bindparam("until")),
            "get": select(E.payload).where(*live),
            "consume": delete(E).where(*live).returning(E.payload),
            "clear_expired": delete(E).where(E.kind == bindparam("to"), E.id == bindparam("i"), expired),
            "retire": update(E).where(*live).values(
                kind=bindparam("to"), expires_at=func.coalesce(bindparam("until", type_=Float), E.expires_at),
            ).returning(E.payload),
            "retire_owned": update(E).where(*live, client_of == owner).values(
                kind=bindparam("to"), expires_at=func.coalesce(bindparam("until", type_=Float), E.expires_at),
            ).returning(E.payload),
            "delete": delete(E).where(E.kind == bindparam("k"), E.id == bindparam("i")),
            "delete_family": delete(E).where(E.grant_id == bindparam("g")),
            "family": select(E.payload).where(E.grant_id == bindparam("g"), E.expires_at > bindparam("now")),
            "incr": insert.values(kind=literal_column("'counter'"), id=bindparam("i"), counter=literal_column("1"),
                                  expires_at=bindparam("until"))
            .on_conflict_do_update(index_elements=[E.kind, E.id], set_={
                "counter": case((expired, literal_column("1")), else_=E.counter + literal_column("1")),
                "expires_at": case((expired, bindparam("until")), else_=E.expires_at),
            }).returning(E.counter),
            "purge": delete(E).where(expired),
        }
        # PostgreSQL runs a guarded write and a revocation side by side (READ COMMITTED: neither
        # sees the other's rows until commit), so both take the family's transaction lock first.
        # SQLite writers already go one at a time (_SqliteWriters)
        self._family_lock = []
        if engine.dialect.name == "postgresql":
            statements["family_lock"] = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("g", type_=String))))
            self._family_lock = ["family_lock"]
        self._sql = {name: Compiled(stmt, engine.dialect) for name, stmt in statements.items()}

    def _run(self, steps, write=False):
        """Run (statement name, values) steps in one transaction; the first row of the last."""
        # the pool check-out and check-in stay outside the writers' lock: it is held just for
        # the statements and the commit, so a worker preempted while holding it (two busy
        # cores) stalls the other for as short a stretch as can be
        with dbapi_connection(self.engine) as connection:
            with self._writing(connection) if write else nullcontext():
                cursor = connection.cursor()
                for name, values in steps:
                    self._sql[name].execute(cursor, values)
                row = cursor.fetchone() if cursor.description else None
                rowcount = cursor.rowcount
                cursor.close()
                if write:
                    connection.commit()
        return row, rowcount

    @staticmethod
    def _payload(row):
        return json.loads(row[0]) if row and row[0] is not None else None

    def _put_values(self, kind, id, payload, ttl, grant_id=None):
        return {"k": kind, "i": fit_id(id), "p": json.dumps(payload), "g": grant_id, "until": time.time() + ttl}

    def put(self, kind, id, payload, ttl, grant_id=None):
        self._run([("put", self._put_values(kind, id, payload, ttl, grant_id))], write=True)
        self._sometimes_purge()

    def _sometimes_purge(self):
        if random.random() < 0.01:  # opportunistic purge keeps the table small
            self.purge()

    def replace(self, kind, id, payload, ttl, expect=None):
        now = time.time()
        values = {"k": kind, "i": fit_id(id), "now": now, "p": json.dumps(payload), "until": now + ttl}
        if expect is not None:  # written as json.dumps wrote it: the same dict gives the same text
            values["was"] = json.dumps(expect)
        return self._run([("replace" if expect is None else "replace_if", values)], write=True)[1] == 1

    def get(self, kind, id):
        return self._payload(self._run([("get", {"k": kind, "i": fit_id(id), "now": time.time()})])[0])

    def consume(self, kind, id):
        return self._payload(self._run([("consume", {"k": kind, "i": fit_id(id), "now": time.time()})],
                                       write=True)[0])

    def retire(self, kind, id, to_kind, ttl=None, client_id=None, grant_id=None):
        # (the row keeps its grant as it moves: grant_id is for stores that list families apart)
        now = time.time()
        values = {"k": kind, "i": fit_id(id), "to": to_kind, "now": now, "until": None if ttl is None else now + ttl,
                  "owner": client_id}
        # an expired tombstone left from before would collide with the moved row
        step = "retire" if client_id is None else "retire_owned"
        return self._payload(self._run([("clear_expired", values), (step, values)], write=True)[0])

    def rotate(self, kind, id, to_kind, client_id, successor: Successor, ttl=None):
        now = time.time()
        put = {**self._put_values(*successor), "now": now, "m": fit_id(successor.grant_id)}
        spend = {"k": kind, "i": fit_id(id), "to": to_kind, "now": now, "until": None if ttl is None else now + ttl,
                 "owner": client_id}
        with dbapi_connection(self.engine) as connection, self._writing(connection):
            cursor = connection.cursor()
            for name in self._family_lock:
                self._sql[name].execute(cursor, put)
            self._sql["put_live"].execute(cursor, put)
            outcome = ROTATED if cursor.rowcount == 1 else REVOKED
            if outcome == ROTATED:
                self._sql["clear_expired"].execute(cursor, spend)  # as in retire
                self._sql["retire_owned"].execute(cursor, spend)
                outcome = ROTATED if cursor.fetchone() is not None else SPENT
            cursor.close()
            if outcome == ROTATED:
                connection.commit()
            else:
                connection.rollback()
        self._sometimes_purge()
        return outcome

    def delete(self, kind, id, *more):
        self._run([("delete", {"k": kind, "i": fit_id(i)}) for i in (id, *more)], write=True)  # one commit

    def revoke_family(self, grant_id, mark_ttl):
        return self._run(self._revoking(grant_id, mark_ttl), write=True)[1]  # rows the delete removed

    def _revoking(self, grant_id, mark_ttl):
        # in one transaction, mark first: no moment where the family is gone but not yet marked
        mark = self._put_values(_REVOKED, grant_id, {}, mark_ttl)
        return [*((name, {"g": grant_id}) for name in self._family_lock), ("put", mark),
                ("delete_family", {"g": grant_id})]

    def family(self, grant_id):
        with dbapi_connection(self.engine) as connection:
            cursor = connection.cursor()
            self._sql["family"].execute(cursor, {"g": grant_id, "now": time.time()})
            payloads = [json.loads(row[0]) for row in cursor.fetchall()]
            cursor.close()
        return payloads

    def add_account_grant(self, account_id, grant_id, ttl):
        self.put(ACCOUNT_GRANT, grant_id, {"grant": grant_id}, ttl, grant_id=account_grants(account_id))

    def revoke_account_grants(self, account_id, mark_ttl):
        grants = [entry["grant"] for entry in self.family(account_grants(account_id))]
        steps = []
        for grant in grants:  # each as revoke_family does it, all in one transaction
            steps += [*self._revoking(grant, mark_ttl), ("delete", {"k": ACCOUNT_GRANT, "i": fit_id(grant)})]
        if steps:
            self._run(steps, write=True)
        return len(grants)

    def is_revoked(self, grant_id):
        return self.get(_REVOKED, grant_id) is not None

    def incr(self, key, ttl):
        now = time.time()
        return self._run([("incr", {"i": fit_id(key), "now": now, "until": now + ttl})], write=True)[0][0]

    def ping(self):
        with self.engine.connect() as conn:  # its table: SQLite would answer SELECT 1 from a new empty file
            conn.exec_driver_sql("SELECT count(*) FROM ephemeral WHERE 1 = 0")

    def purge(self):
        self._run([("purge", {"now": time.time()})], write=True)
