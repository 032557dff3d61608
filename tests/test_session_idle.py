"""SSO sessions end after the tenant's inactivity timeout (ASVS 7.3.1); each use keeps one alive
(recorded at most once a minute), and the absolute lifetime still applies."""
import time

from flask import Response

from tests.helpers import authorize, basic, exchange, jwt_claims, login, query


def _at(monkeypatch, moment):
    monkeypatch.setattr("idp.sessions.time.time", lambda: moment)


def _signed_in(browser):
    response = authorize(browser, prompt="none")
    return "code=" in response.headers["Location"]


def test_an_unused_session_ends_after_the_idle_timeout(browser, provider, rp, user, monkeypatch):
    login(browser)
    signed_in_at = time.time()
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle + 5)
    assert not _signed_in(browser)  # prompt=none: login_required


def test_use_keeps_the_session_alive(browser, provider, rp, user, monkeypatch):
    signed_in_at = time.time()
    login(browser)
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle - 60)
    assert _signed_in(browser)
    _at(monkeypatch, signed_in_at + 2 * idle - 120)  # idle - 60 after that use, 2 x idle - 120 after sign-in
    assert _signed_in(browser)


def test_a_use_never_brings_back_a_session_ended_meanwhile(app, provider, monkeypatch):
    """The once-a-minute `seen_at` write of a request that read the session just before a logout
    or a password change ended it must not write it back."""
    tenant = provider.tenants["kwsp"]
    response = Response()
    with app.test_request_context("/t/kwsp/authorize"):
        provider.sessions.establish(tenant, response, {"account_id": "a-9", "amr": ["pwd"]}, None)
    cookie = response.headers["Set-Cookie"].split(";")[0]
    store, read = provider.store, provider.store.get

    def read_then_end_all(kind, id):  # the logout lands between this request's read and write
        entry = read(kind, id)
        provider.sessions.end_all("a-9")
        return entry

    monkeypatch.setattr(store, "get", read_then_end_all)
    _at(monkeypatch, time.time() + 120)  # `seen_at` is stale enough to be written
    with app.test_request_context("/t/kwsp/authorize", headers={"Cookie": cookie}):
        assert provider.sessions.load(tenant) is None  # its sid's mark already gone: it ends here too
    monkeypatch.setattr(store, "get", read)
    with app.test_request_context("/t/kwsp/authorize", headers={"Cookie": cookie}):
        assert provider.sessions.load(tenant) is None


def _refresh(browser, refresh_token):
    return browser.post("/t/kwsp/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                        headers=basic())


def test_refresh_without_offline_access_ends_with_the_idle_session(browser, provider, rp, user, monkeypatch):
    # the browser never comes back to find the session idle: the sid lapses all the same
    signed_in_at = time.time()
    tokens = exchange(browser, login(browser, scope="openid profile")["code"]).json
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle - 60)
    assert _signed_in(browser)  # a use keeps the session and its sid alive
    second = _refresh(browser, tokens["refresh_token"])
    assert second.status_code == 200
    _at(monkeypatch, signed_in_at + 2 * idle - 120)  # idle - 60 after that use
    third = _refresh(browser, second.json["refresh_token"])
    assert third.status_code == 200
    _at(monkeypatch, signed_in_at + 3 * idle)  # idle + 60 after the last use, no visit since
    assert _refresh(browser, third.json["refresh_token"]).json["error"] == "invalid_grant"


def test_a_portals_refreshes_keep_the_session_in_use(browser, provider, rp, user, monkeypatch):
    # as in Keycloak: a user busy in the portal (which refreshes under the session) is not sent
    # back to sign in at every idle timeout, though the browser never comes back here
    signed_in_at = time.time()
    tokens = exchange(browser, login(browser, scope="openid profile")["code"]).json
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    for n in (1, 2, 3):
        _at(monkeypatch, signed_in_at + n * (idle - 60))
        tokens = _refresh(browser, tokens["refresh_token"]).json
        assert "access_token" in tokens, tokens
    _at(monkeypatch, signed_in_at + 3 * (idle - 60) + idle - 60)  # 4 x (idle - 60): idle - 60 after the last refresh
    assert _signed_in(browser)  # the browser's session went on with them


def test_refreshes_never_keep_a_session_past_its_lifetime(browser, provider, rp, user, monkeypatch):
    signed_in_at = time.time()
    tokens = exchange(browser, login(browser, scope="openid profile")["code"]).json
    tenant = provider.tenants["kwsp"]
    idle, lifetime = (d.total_seconds() for d in (tenant.tokens.session_idle_timeout, tenant.tokens.session_lifetime))
    moment = signed_in_at
    while moment + idle - 60 < signed_in_at + lifetime:
        moment += idle - 60
        _at(monkeypatch, moment)
        tokens = _refresh(browser, tokens["refresh_token"]).json
    _at(monkeypatch, signed_in_at + lifetime + 1)
    assert _refresh(browser, tokens["refresh_token"]).json["error"] == "invalid_grant"  # the 8 hours are up
    assert not _signed_in(browser)


def test_introspecting_a_refresh_token_is_no_use_of_the_session(browser, provider, rp, user, monkeypatch):
    signed_in_at = time.time()
    tokens = exchange(browser, login(browser, scope="openid profile")["code"]).json
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle - 60)
    introspected = browser.post("/t/kwsp/token/introspect", data={"token": tokens["refresh_token"]}, headers=basic())
    assert introspected.json["active"] is True
    _at(monkeypatch, signed_in_at + idle + 60)
    assert _refresh(browser, tokens["refresh_token"]).json["error"] == "invalid_grant"


def test_a_refresh_never_undoes_a_sign_in_made_meanwhile(app, provider, monkeypatch):
    """The same user signing in again keeps the sid and moves its end: a refresh that read the
    sid's mark just before must not write the old end back (the sid would lapse early)."""
    from idp.sessions import LIVE_SID
    tenant, store = provider.tenants["kwsp"], provider.store
    with app.test_request_context("/t/kwsp/authorize"):
        session = provider.sessions.establish(tenant, Response(), {"account_id": "a-9", "amr": ["pwd"]}, None)
    key, later = f"kwsp:{session['sid']}", time.time() + 120  # the mark stale enough to be renewed
    again = {"seen_at": later, "expires_at": session["expires_at"] + 3600}
    read = store.get

    def read_then_sign_in_again(kind, id):
        entry = read(kind, id)
        if kind == LIVE_SID:
            store.put(LIVE_SID, id, again, 1800)
        return entry

    monkeypatch.setattr(store, "get", read_then_sign_in_again)
    _at(monkeypatch, later)
    assert provider.sessions.use_sid(tenant, session["sid"])
    monkeypatch.setattr(store, "get", read)
    assert store.get(LIVE_SID, key) == again


def test_a_tenant_may_count_only_visits_as_use(settings, tmp_path, monkeypatch):
    from idp import create_app
    from tenants import default_tenants_dir
    from tests.helpers import signed_in_portal
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    text = (default_tenants_dir() / "kwsp.toml").read_text(encoding="utf-8")
    (tenants / "kwsp.toml").write_text(text.replace("[tokens]\n", "[tokens]\nrefresh_is_session_use = false\n"))
    _, browser, tokens, signed_in_at, idle = signed_in_portal(create_app({**settings, "IDP_TENANTS_DIR": str(tenants)}))
    _at(monkeypatch, signed_in_at + idle - 60)
    tokens = _refresh(browser, tokens["refresh_token"]).json
    assert "access_token" in tokens
    _at(monkeypatch, signed_in_at + idle + 60)  # idle - 60 after that refresh, idle + 60 after the sign-in
    assert _refresh(browser, tokens["refresh_token"]).json["error"] == "invalid_grant"


def test_a_visit_after_a_refresh_keeps_the_sid_as_long_as_the_session(browser, provider, rp, user, monkeypatch):
    """A portal's refresh renews the sid's mark, a visit right after (within the minute) renews
    the session: the mark must not lapse before the session idles, or the browser would stay
    signed in with every code it gets refused."""
    signed_in_at = time.time()
    body = exchange(browser, login(browser, scope="openid profile")["code"]).json
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + 1000)
    assert "access_token" in _refresh(browser, body["refresh_token"]).json
    _at(monkeypatch, signed_in_at + 1030)
    assert _signed_in(browser)
    _at(monkeypatch, signed_in_at + 1000 + idle + 10)  # the refresh's renewal lapsed, the visit's not
    response = authorize(browser, prompt="none")
    assert "code=" in response.headers["Location"]
    code = query(response.headers["Location"])["code"]
    assert exchange(browser, code).status_code == 200


def test_a_session_whose_sid_ended_elsewhere_ends_at_its_next_visit(browser, provider, rp, user, monkeypatch):
    from idp.sessions import LIVE_SID
    signed_in_at = time.time()
    sid = jwt_claims(exchange(browser, login(browser)["code"]).json["id_token"])["sid"]
    provider.store.delete(LIVE_SID, f"kwsp:{sid}")
    _at(monkeypatch, signed_in_at + 120)  # the session's seen_at due to be written
    assert not _signed_in(browser)  # login_required, not a code the exchange would refuse
