"""The whole provider with its ephemeral store on Redis, and its failure stance when Redis is
unreachable: 503, never a 500 and never a token (DESIGN.md "Failure stance")."""
import redis
from sqlalchemy import func, select

from idp.ephemeral.redis_store import RedisStore
from idp.storage.models import EphemeralEntry
from tests.helpers import authorize, basic, exchange, jwt_claims, login, make_user, register_client


def _ready(make_app, **overrides):
    app = make_app(**overrides)
    provider = app.extensions["idp"]
    register_client(provider)
    user = make_user(provider)
    return app, provider, user


def test_sign_in_and_token_exchange_on_redis(make_app, redis_url):
    app, provider, user = _ready(make_app, IDP_REDIS_URL=redis_url)
    assert isinstance(provider.store, RedisStore)
    browser = app.test_client()

    result = login(browser)
    response = exchange(browser, result["code"])
    assert response.status_code == 200, response.json
    assert jwt_claims(response.json["id_token"])["sub"] == user["id"]
    refreshed = browser.post("/t/kwsp/token", headers=basic(), data={
        "grant_type": "refresh_token", "refresh_token": response.json["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.json

    # ephemeral state lives in Redis, none of it in the SQL table
    client = redis.Redis.from_url(redis_url)
    try:
        kinds = {key.decode().split(":")[1] for key in client.scan_iter("idp:*")}
    finally:
        client.close()
    assert {"session", "refresh"} <= kinds
    with provider.database.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EphemeralEntry)).scalar_one() == 0


def test_every_ephemeral_key_has_a_ttl(make_app, redis_url):
    app, _, _ = _ready(make_app, IDP_REDIS_URL=redis_url)
    browser = app.test_client()
    exchange(browser, login(browser)["code"])
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter("idp:*"))
        assert keys
        assert {key: client.pttl(key) for key in keys if client.pttl(key) < 0} == {}
    finally:
        client.close()


def _assert_unavailable(browser):
    authorized = authorize(browser)
    assert authorized.status_code == 503
    assert authorized.mimetype == "text/html"
    assert "Location" not in authorized.headers
    token = exchange(browser, "any-code")
    assert token.status_code == 503
    assert token.json == {"error": "temporarily_unavailable"}


def test_unreachable_redis_fails_closed(make_app):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app, _, _ = _ready(make_app, IDP_REDIS_URL=f"redis://127.0.0.1:{port}/0")
    _assert_unavailable(app.test_client())


def test_redis_lost_mid_sign_in_issues_no_token(make_app, start_redis):
    server = start_redis()
    app, _, _ = _ready(make_app, IDP_REDIS_URL=server.url)
    browser = app.test_client()
    code = login(browser)["code"]

    server.stop()

    response = exchange(browser, code)
    assert response.status_code == 503
    assert response.json == {"error": "temporarily_unavailable"}
    assert "access_token" not in response.get_data(as_text=True)
    _assert_unavailable(browser)


def test_redis_out_of_memory_fails_closed(make_app, start_redis):
    # a Redis at its maxmemory with noeviction refuses writes: "try again", not a 500
    server = start_redis()
    app, _, _ = _ready(make_app, IDP_REDIS_URL=server.url)
    client = redis.Redis.from_url(server.url)
    try:
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
        page = authorize(app.test_client())  # its interaction cannot be stored
        assert page.status_code == 503 and "Location" not in page.headers
    finally:
        client.config_set("maxmemory", "0")
        client.close()


def test_an_instance_whose_redis_is_gone_is_not_ready(make_app, start_redis):
    # a load balancer asks /health/ready and sends no traffic to it; /health/live stays up
    server = start_redis()
    browser = make_app(IDP_REDIS_URL=server.url).test_client()
    assert browser.get("/health/ready").json == {
        "status": "UP", "checks": {"database": "UP", "ephemeral_store": "UP", "signing_keys": "UP"}}
    server.stop()
    ready = browser.get("/health/ready")
    assert ready.status_code == 503 and ready.json["status"] == "DOWN"
    assert ready.json["checks"] == {"database": "UP", "ephemeral_store": "DOWN", "signing_keys": "UP"}
    assert browser.get("/health/live").status_code == 200


def test_redis_refusing_writes_is_a_503_in_the_users_language(make_app, start_redis):
    # NOREPLICAS (min-replicas-to-write, as beside Sentinel) and MISCONF (a failed snapshot)
    # come as plain ResponseErrors: still "the store cannot serve now", not a fault of ours
    server = start_redis()
    app, provider, user = _ready(make_app, IDP_REDIS_URL=server.url)
    app.config["TESTING"] = False  # as in production: an unhandled error would be a 500
    browser = app.test_client()
    code = login(browser)["code"]
    client = redis.Redis.from_url(server.url)
    try:
        client.config_set("min-replicas-to-write", 1)
        page = authorize(app.test_client(), ui_locales="en")  # stores an interaction
        assert page.status_code == 503 and "Service unavailable" in page.get_data(as_text=True)
        token = exchange(browser, code)  # spends the code
        assert token.status_code == 503 and token.json["error"] == "temporarily_unavailable"
        client.config_set("min-replicas-to-write", 0)
        assert exchange(browser, code).status_code == 200  # nothing was spent meanwhile
    finally:
        client.close()


def test_a_replica_cut_off_from_its_master_is_a_503(make_app, tmp_path):
    # after a failover the app may reach a replica whose master is gone: MASTERDOWN on every read
    import shutil
    import subprocess
    import time
    from tests.storage.conftest import free_port, service_missing
    if not shutil.which("redis-server"):
        service_missing("redis-server is not installed")
    port, gone = free_port(), free_port()
    replica = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(gone),
                                "--replica-serve-stale-data", "no"], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
            except redis.exceptions.MasterDownError:
                break  # up, and refusing as it should
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        client.close()
        app = make_app(IDP_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        app.config["TESTING"] = False
        register_client(app.extensions["idp"])
        browser = app.test_client()
        browser.set_cookie("idp_session", "A" * 43, path="/t/kwsp")  # a session to look up
        response = authorize(browser, ui_locales="en")
        assert response.status_code == 503 and "Service unavailable" in response.get_data(as_text=True)
    finally:
        replica.terminate()
        replica.wait()


def _until(check, seconds=15.0):
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {check}")


def test_the_provider_follows_a_sentinel_failover(make_app, tmp_path):
    # IDP_REDIS_URL=redis+sentinel://...: the master is found through Sentinel, and again after a
    # failover; a refresh token issued before it still works after (DESIGN.md "Running at scale")
    import shutil
    import subprocess
    from tests.storage.conftest import free_port, service_missing
    if not shutil.which("redis-server"):
        service_missing("redis-server is not installed")
    master, replica, sentinel = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    (tmp_path / "sentinel.conf").write_text(
        f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor idp 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds idp 1000\nsentinel failover-timeout idp 5000\n")
    processes = [subprocess.Popen(["redis-server", "--port", str(master), "--dir", str(tmp_path), *common,
                                   "--repl-diskless-sync-delay", "0"], stdout=subprocess.DEVNULL)]
    try:
        _until(lambda: redis.Redis(port=master).ping())
        processes.append(subprocess.Popen(["redis-server", "--port", str(replica), "--dir", str(tmp_path), *common,
                                           "--replicaof", "127.0.0.1", str(master)], stdout=subprocess.DEVNULL))
        _until(lambda: redis.Redis(port=master).info("replication").get("slave0", {}).get("state") == "online")
        processes.append(subprocess.Popen(["redis-server", str(tmp_path / "sentinel.conf"), "--sentinel"],
                                          stdout=subprocess.DEVNULL))
        watcher = redis.Redis(port=sentinel, decode_responses=True)
        _until(lambda: len(watcher.sentinel_slaves("idp")) == 1)

        app, provider, user = _ready(make_app, IDP_REDIS_URL=f"redis+sentinel://127.0.0.1:{sentinel}/idp/0")
        assert isinstance(provider.store, RedisStore)
        browser = app.test_client()
        tokens = exchange(browser, login(browser, scope="openid offline_access")["code"]).json
        old_master = redis.Redis(port=master)
        old_master.set("marker", 1)  # the stream is in order: once this is acknowledged, all is
        assert old_master.wait(1, 2000) == 1

        watcher.execute_command("SENTINEL", "FAILOVER", "idp")
        _until(lambda: watcher.sentinel_master("idp")["port"] == replica)  # done, as clients are told
        _until(lambda: old_master.info("replication")["role"] == "slave")

        def refresh():
            return browser.post("/t/kwsp/token", headers=basic(), data={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        answer = refresh()
        if answer.status_code == 503:  # the worker's connection still on the old master: refused, nothing spent
            assert answer.json["error"] == "temporarily_unavailable"
            answer = refresh()  # asks the Sentinels again
        assert answer.status_code == 200, answer.json
        assert provider.store.r.connection_pool.get_master_address() == ("127.0.0.1", replica)
    finally:
        for process in processes:
            process.terminate()
            process.wait()


def test_a_sentinel_url_names_its_sentinels_and_service():
    import pytest
    from idp.ephemeral.redis_store import sentinel_master
    client = sentinel_master("redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/idp/2")
    pool = client.connection_pool
    assert pool.service_name == "idp" and pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "s@cret"
    assert pool.sentinel_manager.sentinels[1].connection_pool.connection_kwargs["port"] == 26380
    for bad in ("redis+sentinel://10.0.0.1/idp", "redis+sentinel://10.0.0.1:26379/", "redis+sentinel://h:1/idp/x"):
        with pytest.raises(ValueError, match="IDP_REDIS_URL"):
            sentinel_master(bad)
