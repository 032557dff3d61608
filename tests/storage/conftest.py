"""Real backing services for the storage tests: a `redis-server` this session starts itself on a
free port, throwaway PostgreSQL databases on 127.0.0.1:5432, and a PgBouncer in transaction mode
in front of them.

A missing service skips the test on a developer's machine but fails it in CI (CI=true), so the
Redis and PostgreSQL paths can never silently stop being tested.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import redis

from tests.services import required

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def service_missing(reason: str):
    required(False, reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One `redis-server` process on a free port, without persistence."""

    def __init__(self, directory):
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server is not installed")
        for _ in range(3):  # a free port can be taken before the server binds it
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(directory)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready():
                return
            self.stop()
        service_missing("redis-server did not answer PING")

    def _wait_ready(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    return client.ping()
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's server, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def start_redis(tmp_path):
    """Start a private redis-server (for tests that stop it); stopped at the end of the test."""
    servers = []

    def start() -> RedisServer:
        servers.append(RedisServer(tmp_path))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


class PostgresDatabases:
    """Creates empty databases named idp_test_<random>; drops them all at the end."""

    def __init__(self):
        import psycopg
        self.psycopg = psycopg
        self.names = []
        try:
            self.admin = psycopg.connect(PG_DSN, autocommit=True)
        except psycopg.OperationalError as exc:
            service_missing(f"PostgreSQL is not reachable on 127.0.0.1:5432: {str(exc).strip().splitlines()[0]}")

    def create(self) -> str:
        name = f"idp_test_{uuid.uuid4().hex[:12]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return PG_URL.format(name=name)

    def drop_all(self):
        for name in self.names:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


@pytest.fixture(scope="session")
def postgres():
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture
def postgres_url(postgres):
    """A fresh, empty PostgreSQL database for this test."""
    return postgres.create()


class PgBouncer:
    """A `pgbouncer` on a free port in transaction mode, in front of 127.0.0.1:5432, with one
    server connection per database: clients take turns on it, as behind a busy production pooler.
    It ignores the `options` startup parameter (OPERATIONS.md) and refuses to run as root."""

    def __init__(self):
        binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
        if binary is None:
            service_missing("pgbouncer is not installed")
        self.directory = tempfile.mkdtemp(prefix="idp-pgbouncer-")
        os.chmod(self.directory, 0o755)  # readable by the user it runs as
        self.port = free_port()
        config = os.path.join(self.directory, "pgbouncer.ini")
        with open(config, "w") as f:
            f.write("[databases]\n* = host=127.0.0.1 port=5432 user=postgres\n[pgbouncer]\n"
                    f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
                    "auth_type = any\npool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 200\n"
                    "ignore_startup_parameters = options\n")
        os.chmod(config, 0o644)
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen([*as_user, binary, config],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self._wait_ready():
            self.stop()
            service_missing("pgbouncer did not start")

    def url(self, direct_url: str) -> str:
        return direct_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{self.port}/")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pgbouncer(postgres):
    bouncer = PgBouncer()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def make_app(settings):
    """`create_app({...settings, **overrides})`; its connections are closed after the test."""
    from idp import create_app
    apps = []

    def make(**overrides):
        app = create_app({**settings, **overrides})
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        provider = app.extensions["idp"]
        provider.database.engine.dispose()
        client = getattr(provider.store, "r", None)
        if client is not None:
            client.close()
