"""Engine, sessions and migrations for the durable store."""
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows has none: there, start workers one after another
    fcntl = None

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
START_LOCK = 0x1D9_57A27  # this application's advisory lock number on PostgreSQL
# a slow or locked PostgreSQL answers "try again" (503) within seconds instead of holding a
# worker: the statement is cancelled, or the lock wait given up (both OperationalError)
PG_LIMITS = "-c statement_timeout=5000 -c lock_timeout=3000"  # milliseconds
# a write SQLite cannot start within this (another process holding the database: a backup, a
# sqlite3 shell) fails, and the request answers 503, rather than the worker waiting half a minute
SQLITE_BUSY_MS = 5000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers run beside the one writer; NORMAL sync is safe with WAL.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cursor.close()

        return engine
    # no server-side prepared statements (psycopg prepares a statement run 5 times): behind a
    # pooler in transaction mode (PgBouncer before 1.21) another client's may hold the name on the
    # server connection a transaction lands on, or it may lack ours; planning one of these short
    # statements again costs the server 25-60 us (EXPLAIN ANALYZE, PostgreSQL 15)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=5,
                         connect_args={"connect_timeout": 5, "options": PG_LIMITS, "prepare_threshold": None})


def _unlimited(connection) -> None:
    """No time limits for this transaction: a start waits its turn, and a migration takes what it takes."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SET LOCAL lock_timeout = 0"))


@contextmanager
def starting_alone(database: "Database"):
    """Held by one starting process at a time: workers started together on an empty database
    would each migrate it, and each make its own signing keys (and two key rotations at once
    would each stage a set). Yields the database to do that work with.

    PostgreSQL: a transaction's advisory lock, and the work done in that transaction, on its one
    connection (all or nothing). A session's lock would outlive its transaction, and behind a
    pooler in transaction mode its unlock could reach another server connection and leave it
    held for good; and a start holding one server connection while its work waited for another
    would wait for ever once the workers queued behind its lock held the rest.
    SQLite: a lock on a file beside the database."""
    if database.engine.url.get_backend_name() == "postgresql":
        with database.engine.begin() as connection:
            _unlimited(connection)
            # idle while the start makes its keys in Python; a server's timeout must not end it
            connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": START_LOCK})
            yield _OnConnection(connection)
        return
    path = database.engine.url.database
    if not path or path == ":memory:" or fcntl is None:
        yield database
        return
    with open(f"{path}.start-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield database


def migrate(bind: Engine | Connection) -> None:
    """Bring the schema to the newest Alembic revision (run on every start); `bind` is an engine,
    or a start's connection (starting_alone), whose transaction it joins."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def upgrade(connection):
        _unlimited(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    if isinstance(bind, Connection):
        with bind.begin_nested():
            upgrade(bind)
    else:
        with bind.begin() as connection:
            upgrade(connection)


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Session:
        with self._sessions() as session:
            with session.begin():
                yield session

    def new_session(self) -> Session:
        return self._sessions()

    @property
    def bind(self) -> Engine:
        return self.engine


class _OnConnection:
    """The Database of a start (starting_alone): every session on its one connection, each a
    savepoint in the start's transaction."""

    session = Database.session

    def __init__(self, connection: Connection):
        self.bind, self.engine = connection, connection.engine
        self._sessions = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


# --- hot paths: the few statements every sign-in, code exchange or refresh runs several times.
# SQLAlchemy's per-execution work (connection wrapper, statement cache key, result objects) costs
# 5-10 times the SQLite work itself (docs/BENCHMARKS.md), so these are compiled once for the
# engine's driver and run on a pooled DBAPI connection.

class Compiled:
    """A statement compiled once for one driver; `args` turns named values into what the
    driver's parameter style wants (a tuple in order for SQLite's `?`, the dict for psycopg)."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        # `args` passes only the caller's named values: a literal bound inside the statement
        # (`column == "x"`) would be missing from them at run time, so refuse it here
        literals = [name for name, bind in compiled.binds.items() if bind.value is not None]
        if literals:
            raise ValueError(f"bind every value by name (bindparam), not as a literal: {literals}")
        self.sql, self._order = compiled.string, compiled.positiontup

    def args(self, values: dict):
        return tuple(values[name] for name in self._order) if self._order else values

    def execute(self, cursor, values: dict):
        try:
            cursor.execute(self.sql, self.args(values))
        except Exception as error:
            error.add_note(self.sql)  # for the log line of dbapi_connection's error
            raise

    def first(self, connection, values: dict):
        """The first row on a DBAPI connection (from `dbapi_connection`), or None."""
        cursor = connection.cursor()
        try:
            self.execute(cursor, values)
            return cursor.fetchone()
        finally:
            cursor.close()


@contextmanager
def dbapi_connection(engine: Engine):
    """A pooled DBAPI connection, given back (rolled back if left open) on exit. Driver errors
    come out as SQLAlchemy's, which the app answers with a fail-closed 503; after an
    OperationalError (maybe a lost connection) the connection is never handed out again."""
    dbapi, connection = engine.dialect.loaded_dbapi, None
    try:
        connection = engine.raw_connection()
        yield connection
    except dbapi.Error as error:
        if connection is not None and isinstance(error, dbapi.OperationalError):
            connection.invalidate()
        statement = "\n".join(getattr(error, "__notes__", ())) or None  # from Compiled.execute
        raise DBAPIError.instance(statement, None, error, dbapi.Error) from error
    finally:
        if connection is not None:
            connection.close()
