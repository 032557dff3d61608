"""/health/live and /health/ready, for load balancers (the Redis case: tests/storage)."""


def test_live_and_ready_on_the_embedded_default(browser):
    live, ready = browser.get("/health/live"), browser.get("/health/ready")
    assert live.status_code == 200 and live.json == {"status": "UP"}
    assert ready.status_code == 200 and ready.json["status"] == "UP"
    assert set(ready.json["checks"].values()) == {"UP"}
    assert ready.headers["Cache-Control"] == "no-store"


def test_not_ready_when_the_database_cannot_answer(browser, provider, tmp_path):
    # the SQLite file overwritten: the durable store is gone, the process itself is not
    provider.database.engine.dispose()
    (tmp_path / "idp.sqlite3").write_bytes(b"not a database")
    ready = browser.get("/health/ready")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == "DOWN"
    assert browser.get("/health/live").status_code == 200


def test_unknown_health_path_is_json(browser):
    response = browser.get("/health/nope")
    assert response.status_code == 404 and response.is_json
