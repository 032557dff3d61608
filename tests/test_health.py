"""/health/live and /health/ready, for load balancers (the Redis case: tests/storage)."""
import sqlite3
import threading
import time

import pytest

from tests.helpers import authorize


def test_live_and_ready_on_the_embedded_default(browser):
    live, ready = browser.get("/health/live"), browser.get("/health/ready")
    assert live.status_code == 200 and live.json == {"status": "UP"}
    assert ready.status_code == 200 and ready.json["status"] == "UP"
    assert set(ready.json["checks"].values()) == {"UP"}
    assert ready.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("loss", ["overwritten", "deleted"])
def test_not_ready_when_the_database_is_gone(browser, provider, tmp_path, loss):
    # the durable store is gone, the process itself is not
    provider.database.engine.dispose()
    database = tmp_path / "idp.sqlite3"
    for path in (database, tmp_path / "idp.sqlite3-wal", tmp_path / "idp.sqlite3-shm"):
        path.unlink(missing_ok=True)
    if loss == "overwritten":
        database.write_bytes(b"not a database")
    ready = browser.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"] == ready.json["checks"]["ephemeral_store"] == "DOWN"
    assert browser.get("/health/live").status_code == 200


def test_not_ready_when_a_signing_key_cannot_be_opened(browser, provider, monkeypatch):
    keys = provider.keys.get("kwap")
    monkeypatch.setattr(keys, "signing", {alg: key for alg, key in keys.signing.items() if alg != "EdDSA"})
    ready = browser.get("/health/ready")
    assert ready.status_code == 503 and ready.json["checks"]["signing_keys"] == "DOWN"


def test_unknown_health_path_is_json(browser):
    response = browser.get("/health/nope")
    assert response.status_code == 404 and response.is_json


def test_a_write_locked_sqlite_database_is_not_ready_and_fails_writes_within_seconds(app, browser, rp, tmp_path):
    # another process holding the write lock (a backup, a sqlite3 shell): reads still answer, but
    # every sign-in writes; the instance says so, and a request answers 503 instead of hanging
    holder = sqlite3.connect(tmp_path / "idp.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        ready = browser.get("/health/ready")
        assert ready.status_code == 503 and ready.json["checks"]["database"] == "DOWN"
        assert time.monotonic() - started < 3
        app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
        started = time.monotonic()
        assert authorize(browser).status_code == 503  # the interaction cannot be written
        assert time.monotonic() - started < 8
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert browser.get("/health/ready").status_code == 200


def test_writers_queued_behind_a_write_locked_database_all_fail_within_its_busy_timeout(provider, tmp_path):
    # the time a writer spends queued comes off SQLite's 5 s: else the n-th waited n x 5 s
    holder = sqlite3.connect(tmp_path / "idp.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    took = []

    def write(n):
        started = time.monotonic()
        with pytest.raises(Exception, match="locked"):
            provider.store.put("probe", str(n), {}, 60)
        took.append(time.monotonic() - started)
    try:
        writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(took) == 3 and max(took) < 6.5, sorted(took)
    provider.store.put("probe", "after", {}, 60)  # and the budget is whole again
    assert provider.store.get("probe", "after") == {}
