"""The performance shortcuts (docs/BENCHMARKS.md) answer exactly as the plain paths do."""
import multiprocessing
import time

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from idp.ephemeral.sql_store import SqlStore, _SqliteWriters
from idp.oauth.server import EndpointRequest
from idp.views.protocol import WellKnownCache
from keys import rotate

DOCS = ("/t/kwsp/.well-known/openid-configuration", "/t/kwsp/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/t/kwsp", "/t/kwsp/jwks")


def _cached(app):
    plain = app.test_client()
    app.wsgi_app = WellKnownCache(app.wsgi_app, app.extensions["idp"])
    return plain, app.test_client()


def test_discovery_and_jwks_replayed_byte_for_byte(app):
    plain, cached = _cached(app)
    for path in DOCS:
        for _ in range(3):  # first through Flask, then replayed
            a, b = plain.get(path), cached.get(path)
            assert (a.status, a.data, sorted(a.headers.items())) == (b.status, b.data, sorted(b.headers.items()))


def test_everything_else_goes_to_flask(app):
    _, cached = _cached(app)
    assert cached.get("/t/nope/jwks").status_code == 404
    assert cached.post("/t/kwsp/jwks").status_code == 405
    head = cached.head("/t/kwsp/jwks")
    assert head.status_code == 200 and head.data == b""


def test_rotated_keys_reach_the_jwks(app, provider):
    _, cached = _cached(app)
    before = cached.get("/t/kwsp/jwks").json
    from datetime import datetime, timedelta, timezone
    rotate(provider.key_store, "kwsp", provider.master, datetime.now(timezone.utc), retention=timedelta(days=1))
    provider.keys.invalidate("kwsp")
    after = cached.get("/t/kwsp/jwks").json
    assert len(after["keys"]) > len(before["keys"])


def _form_request(body, query="", method="POST"):
    return Request(EnvironBuilder(method=method, query_string=query, data=body,
                                  content_type="application/x-www-form-urlencoded").get_environ())


@pytest.mark.parametrize("query, body", [
    ("", b"grant_type=client_credentials&scope=api"),
    ("", b"a=1&a=2&empty=&flag&sp=x+y%20z&pct=%E2%82%AC&bad=%ff&%zz=1"),
    ("", b"grant_type=\xff\xfe&code=\xc3"),  # not UTF-8
    ("scope=from-query&x=1", b"grant_type=refresh_token&x=2"),
    ("", b""),
])
def test_token_request_parameters_as_werkzeug_reads_them(query, body):
    # a POST's parameters are its body's alone (RFC 6749 3.2): the query is not read
    lean, plain = EndpointRequest(_form_request(body, query)), _form_request(body, query)
    assert list(lean.form.lists()) == list(plain.form.lists())
    assert lean.payload.datalist == {name: values for name, values in plain.form.lists()}
    assert lean.payload.data == {name: values[0] for name, values in plain.form.lists()}
    assert "scope" not in lean.payload.data or query == ""


def test_token_request_get_reads_the_query_only():
    assert EndpointRequest(_form_request(b"b=2", "a=1", method="GET")).payload.datalist == {"a": ["1"]}


def test_token_request_after_the_form_was_read():
    req = _form_request(b"grant_type=client_credentials&scope=api")
    assert req.form["scope"] == "api"  # the body stream is consumed now
    assert EndpointRequest(req).payload.data == {"grant_type": "client_credentials", "scope": "api"}


def test_sql_store_round_trip(provider):
    store = provider.store
    if not isinstance(store, SqlStore):
        return
    store.put("bench", "a", {"x": 1}, 60, grant_id="g1")
    store.put("bench", "a", {"x": 2}, 60, grant_id="g1")
    assert store.get("bench", "a") == {"x": 2}
    assert store.consume("bench", "a") == {"x": 2}
    assert store.consume("bench", "a") is None and store.get("bench", "a") is None
    store.put("bench", "old", {}, -1)
    assert store.get("bench", "old") is None and store.consume("bench", "old") is None


def _hold(path, seconds, ready):
    with _SqliteWriters(path):
        ready.set()
        time.sleep(seconds)


def test_writers_queue_across_processes(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    ready = multiprocessing.get_context("spawn").Event()
    other = multiprocessing.get_context("spawn").Process(target=_hold, args=(path, 0.5, ready))
    other.start()
    assert ready.wait(30)
    start = time.monotonic()
    with _SqliteWriters(path):
        waited = time.monotonic() - start
    other.join()
    assert waited > 0.2
