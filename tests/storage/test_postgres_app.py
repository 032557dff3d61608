"""The whole provider on PostgreSQL: start-up migrates an empty database, and a sign-in and token
exchange work with the SQL ephemeral store on PostgreSQL."""
import threading
import time

from alembic.script import ScriptDirectory
from alembic.config import Config
from sqlalchemy import create_engine, func, inspect, select, text

from idp.ephemeral.sql_store import SqlStore
from idp.storage.db import MIGRATIONS
from idp.storage.models import Base, EphemeralEntry, SigningKeyRow
from tests.helpers import (
    authorize, basic, csrf, exchange, jwt_claims, login, make_user, register_client, signed_in_portal,
)


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_start_migrates_an_empty_database(make_app, postgres_url):
    probe = create_engine(postgres_url)
    try:
        assert inspect(probe).get_table_names() == []
        app = make_app(IDP_DATABASE_URL=postgres_url)
        assert app.extensions["idp"].database.engine.dialect.name == "postgresql"
        probe.dispose()  # fresh reflection
        assert set(inspect(probe).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        with probe.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
    finally:
        probe.dispose()


def test_second_start_changes_nothing(make_app, postgres_url):
    first = make_app(IDP_DATABASE_URL=postgres_url).extensions["idp"]
    kids = {k.kid for k in first.key_store.list_keys("kwsp")}
    second = make_app(IDP_DATABASE_URL=postgres_url).extensions["idp"]
    assert {k.kid for k in second.key_store.list_keys("kwsp")} == kids
    with second.database.session() as s:
        per_tenant = s.execute(select(SigningKeyRow.tenant_id, func.count()).group_by(SigningKeyRow.tenant_id)).all()
    assert dict(per_tenant) == {"kwsp": 3, "perkeso": 3, "kwap": 3}


def test_sign_in_and_token_exchange(make_app, postgres_url):
    app = make_app(IDP_DATABASE_URL=postgres_url)
    provider = app.extensions["idp"]
    assert isinstance(provider.store, SqlStore)
    register_client(provider)
    user = make_user(provider)
    browser = app.test_client()

    result = login(browser)
    response = exchange(browser, result["code"])
    assert response.status_code == 200, response.json
    tokens = response.json
    claims = jwt_claims(tokens["id_token"])
    assert claims["sub"] == user["id"]
    assert claims["iss"] == "http://127.0.0.1:8000/t/kwsp"
    assert isinstance(claims["auth_time"], int)

    # the session, code and refresh token went through the PostgreSQL ephemeral table
    with provider.database.engine.connect() as conn:
        kinds = set(conn.execute(select(EphemeralEntry.kind)).scalars())
    assert {"session", "refresh"} <= kinds

    refreshed = _refresh(browser, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.json["refresh_token"] != tokens["refresh_token"]

    # a replayed code is refused and revokes the whole grant, rotated refresh tokens included
    replay = exchange(browser, result["code"])
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    assert _refresh(browser, refreshed.json["refresh_token"]).status_code == 400


def _refresh(browser, refresh_token):
    return browser.post("/t/kwsp/token", headers=basic(),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_timestamps_come_back_timezone_aware(make_app, postgres_url):
    provider = make_app(IDP_DATABASE_URL=postgres_url).extensions["idp"]
    user = make_user(provider)
    account = provider.accounts.get("kwsp", user["id"])
    assert account.created_at.utcoffset() is not None


def test_odd_input_is_a_clean_error_on_postgresql(make_app, postgres_url):
    # PostgreSQL refuses NUL in text and long values in the ephemeral id column; both reached it
    from tests.oidc.test_errors import nul_requests
    app = make_app(IDP_DATABASE_URL=postgres_url)
    provider = app.extensions["idp"]
    register_client(provider)
    browser = app.test_client()
    for name, send in nul_requests(browser):
        assert send().status_code in (400, 401), name
    page = authorize(browser)
    url = page.headers["Location"]
    for username in ("u" * 128, "u" * 1000):  # the failure counters key on what was typed
        response = browser.post(url, data={"csrf_token": csrf(browser.get(url).get_data(as_text=True)),
                                           "username": username, "password": "not it"})
        assert response.status_code == 400, (len(username), response.status_code)


def test_an_audit_event_with_long_outside_values_is_recorded(make_app, postgres_url):
    # an operator's --actor or a proxy's client address may exceed the columns: the action
    # must not fail (after its change was made) because its record did not fit
    provider = make_app(IDP_DATABASE_URL=postgres_url).extensions["idp"]
    provider.audit.record("kwsp", "account.deactivated", actor="helpdesk:" + "x" * 300, ip="1" * 100,
                          subject="a-1", client_id="c" * 200)
    [event] = provider.audit.events("kwsp", subject="a-1")
    assert event.actor.startswith("helpdesk:") and len(event.actor) == 128 and len(event.ip) == 64


def _assert_unavailable(browser):
    page = authorize(browser)
    assert page.status_code == 503 and "Location" not in page.headers
    token = exchange(browser, "any-code")  # a locked table cannot even be read
    assert token.status_code == 503 and token.json == {"error": "temporarily_unavailable"}


def test_a_locked_database_is_a_503_within_seconds_not_a_hung_worker(make_app, postgres_url):
    import threading
    import time
    app = make_app(IDP_DATABASE_URL=postgres_url)
    register_client(app.extensions["idp"])
    holder, locked, release = create_engine(postgres_url), threading.Event(), threading.Event()

    def hold():  # another session holds the tables the requests need, for 30 s at most
        with holder.begin() as conn:
            conn.execute(text("LOCK TABLE clients, ephemeral, audit_events IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(30)
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        _assert_unavailable(app.test_client())
        assert time.monotonic() - started < 15  # lock_timeout 3 s per statement, not until it is released
    finally:
        release.set()
        thread.join()
        holder.dispose()


def test_a_read_only_database_is_a_503(make_app, postgres_url):
    # a standby after a failover takes reads and refuses writes (SQLSTATE 25006)
    app = make_app(IDP_DATABASE_URL=postgres_url)
    provider = app.extensions["idp"]
    register_client(provider)
    database = provider.database.engine.url.database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'))
        provider.database.engine.dispose()  # new connections read the setting
        page = authorize(app.test_client())  # its interaction cannot be stored
        assert page.status_code == 503 and "Location" not in page.headers
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = off'))
        admin.dispose()


def test_the_start_lock_outlasts_an_idle_in_transaction_timeout(make_app, postgres_url):
    # the lock is its transaction's, which sits idle while the start works on other connections:
    # a server's idle_in_transaction_session_timeout must not end it (and the lock with it)
    from idp.storage.db import START_LOCK, starting_alone
    database = postgres_url.rsplit("/", 1)[1]
    probe = create_engine(postgres_url)
    try:
        with probe.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" SET idle_in_transaction_session_timeout = 200'))
            conn.commit()
        database = make_app(IDP_DATABASE_URL=postgres_url).extensions["idp"].database
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :key"
        with starting_alone(database):
            time.sleep(0.6)  # three times the timeout
            with probe.connect() as conn:
                assert conn.execute(text(held), {"key": START_LOCK}).scalar_one() == 1
        with probe.connect() as conn:
            assert conn.execute(text(held), {"key": START_LOCK}).scalar_one() == 0
    finally:
        probe.dispose()


def test_the_provider_runs_behind_pgbouncer_in_transaction_mode(make_app, postgres_url, pgbouncer):
    """Clients take turns on one server connection: no server-side prepared statement (the next
    client's would take the same name on it) and no lock of a session outliving its turn."""
    url = pgbouncer.url(postgres_url)
    provider = make_app(IDP_DATABASE_URL=url).extensions["idp"]
    make_app(IDP_DATABASE_URL=url)  # a second start takes and gives back the start lock
    register_client(provider)
    make_user(provider)
    app = make_app(IDP_DATABASE_URL=url)
    failures = []

    def portal():
        browser = app.test_client()
        try:
            token = exchange(browser, login(browser, scope="openid offline_access")["code"]).json["refresh_token"]
            for _ in range(25):  # well past psycopg's five runs before it would prepare a statement
                response = browser.post("/t/kwsp/token", headers=basic(),
                                        data={"grant_type": "refresh_token", "refresh_token": token})
                if response.status_code != 200:
                    failures.append(response.get_data(as_text=True)[:200])
                    return
                token = response.json["refresh_token"]
        except Exception as error:  # noqa: BLE001 - reported below, with every thread's
            failures.append(repr(error)[:300])

    threads = [threading.Thread(target=portal) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with app.extensions["idp"].database.engine.connect() as conn:  # on the bouncer's one server connection
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() == 0
    probe = create_engine(postgres_url)
    try:
        with probe.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one() == 0
    finally:
        probe.dispose()


def test_keys_rotate_through_pgbouncer(settings, postgres_url, pgbouncer):
    # the rotation's work runs in its lock's one transaction (starting_alone), through the pooler
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path
    from tests.helpers import backdate_staged_keys
    env = {**os.environ, **{k: str(v) for k, v in settings.items()}, "IDP_DATABASE_URL": pgbouncer.url(postgres_url)}

    def rotate():
        done = subprocess.run([str(Path(sys.executable).parent / "idp"), "keys", "rotate", "--tenant", "kwsp"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert rotate()["step"] == "staged"
    assert rotate()["step"] == "waiting"
    backdate_staged_keys(postgres_url, by_seconds=600)
    promoted = rotate()
    assert promoted["step"] == "promoted"
    assert sorted(k["state"] for k in promoted["keys"]) == ["active"] * 3 + ["retired"] * 3


def test_a_session_bound_refresh_renews_its_session_through_pgbouncer(make_app, postgres_url, pgbouncer, monkeypatch):
    # the sid mark's renewal (a compare-and-set on the SQL store) on PostgreSQL behind the pooler
    _, browser, body, signed_in_at, idle = signed_in_portal(make_app(IDP_DATABASE_URL=pgbouncer.url(postgres_url)))
    for n in (1, 2):
        monkeypatch.setattr(time, "time", lambda n=n: signed_in_at + n * (idle - 60))
        body = browser.post("/t/kwsp/token", headers=basic(),
                            data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json
        assert "access_token" in body, body
