"""OIDF Back-Channel Logout plan (Back-Channel Logout 1.0): each client that took part in the
session receives a signed logout token at its registered URI. A real HTTP receiver listens on a
free loopback port, and the token is verified against the tenant's published JWKS."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt

from idp.views import logout as logout_view
from tests.helpers import authorize, basic, csrf, register_client
from tests.oidc.support import ISSUER, silent, tenant_jwks, tokens, validate_id_token, verify_signed

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT = "/t/kwsp/logout"
BYE = "https://rp.example/bye"


class Receiver:
    """An RP's back-channel logout endpoint: records each POST and answers with `status`."""

    def __init__(self, status=200):
        self.requests, self.status, self.arrived = [], status, threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append({"path": self.path, "type": self.headers["Content-Type"], "body": body})
                # recorded before answering: the provider may see the answer (and the test go on)
                # before this thread runs another line
                receiver.arrived.set()
                self.send_response(receiver.status)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def logout_tokens(self):
        return [parse_qs(r["body"])["logout_token"][0] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def deliveries(monkeypatch, module):
    """The back-channel deliveries started through `module` (which imported notify_backchannel),
    so a test can wait for them to finish."""
    futures, original = [], module.notify_backchannel

    def recording(*args, **kwargs):
        started = original(*args, **kwargs)
        futures.extend(started)
        return started
    monkeypatch.setattr(module, "notify_backchannel", recording)
    return futures


@pytest.fixture
def sent(monkeypatch):
    """The back-channel deliveries started by a logout."""
    futures = deliveries(monkeypatch, logout_view)
    yield futures
    for future in futures:
        future.result(timeout=10)


def finished(sent):
    return [future.result(timeout=10) for future in sent]


def rp_logout(browser, hint):
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    assert response.status_code == 302
    return response


def test_backchannel_logout_advertised(browser):
    meta = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_backchannel_logout_token(browser, provider, user, receiver, sent):
    register_client(provider, backchannel_logout_uri=receiver.url)
    body = tokens(browser, nonce="n-b")
    id_claims = validate_id_token(browser, body["id_token"], nonce="n-b")
    rp_logout(browser, body["id_token"])
    outcome = finished(sent)
    assert outcome == [True], (outcome, [(e.outcome, e.detail) for e in provider.audit.events("kwsp")])
    assert receiver.arrived.is_set()
    request, = receiver.requests
    assert request["path"] == "/backchannel"
    assert request["type"] == "application/x-www-form-urlencoded"
    token, = receiver.logout_tokens()

    decoded = verify_signed(browser, token, "RS256")  # kid in the tenant JWKS, signature, RS256
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    now = time.time()
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "portal"
    assert now - 60 <= claims["iat"] <= now + 5 and claims["exp"] > now
    assert claims["jti"]
    assert claims["events"] == {EVENT: {}}
    assert claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"] == user["id"]
    assert "nonce" not in claims  # Back-Channel Logout 2.4: a nonce is prohibited


def test_backchannel_logout_request_carries_only_the_logout_token(browser, provider, user, receiver, sent):
    # Back-Channel Logout 2.5: a form-encoded POST whose one parameter is logout_token
    register_client(provider, backchannel_logout_uri=receiver.url)
    rp_logout(browser, tokens(browser)["id_token"])
    assert finished(sent) == [True]
    request, = receiver.requests
    assert request["type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(request["body"], keep_blank_values=True, strict_parsing=True)
    assert list(fields) == ["logout_token"] and len(fields["logout_token"]) == 1
    token = fields["logout_token"][0]
    assert request["body"] == f"logout_token={token}"
    verify_signed(browser, token, "RS256")


def test_backchannel_logout_token_verifies_with_plain_joserfc(browser, provider, user, receiver, sent):
    register_client(provider, backchannel_logout_uri=receiver.url)
    rp_logout(browser, tokens(browser)["id_token"])
    finished(sent)
    token, = receiver.logout_tokens()
    decoded = jwt.decode(token, tenant_jwks(browser), algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": "portal"},
                                     iat={"essential": True}, jti={"essential": True}, sid={"essential": True})
    registry.validate(decoded.claims)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_backchannel_logout_token_signed_as_the_clients_id_tokens(browser, provider, user, receiver, sent, alg):
    # Back-Channel Logout 2.6: validated as an ID token is; a portal that takes only its
    # registered algorithm would drop an RS256 one
    register_client(provider, backchannel_logout_uri=receiver.url, id_token_alg=alg)
    body = tokens(browser, nonce="n-a")
    assert verify_signed(browser, body["id_token"], alg)
    rp_logout(browser, body["id_token"])
    assert finished(sent) == [True]
    token, = receiver.logout_tokens()
    assert verify_signed(browser, token, alg).header["typ"] == "logout+jwt"


def test_backchannel_logout_each_jti_unique(browser, provider, user, receiver, sent):
    register_client(provider, backchannel_logout_uri=receiver.url)
    rp_logout(browser, tokens(browser)["id_token"])
    rp_logout(browser, tokens(browser)["id_token"])
    finished(sent)
    first, second = (jwt.decode(t, tenant_jwks(browser)).claims for t in receiver.logout_tokens())
    assert first["jti"] != second["jti"]
    assert first["sid"] != second["sid"]  # a new sign-in is a new session


def test_backchannel_logout_every_participating_client(browser, provider, user, receiver, sent):
    other = Receiver()
    try:
        register_client(provider, backchannel_logout_uri=receiver.url)
        register_client(provider, client_id="other", secret="other-secret-0123456789",
                        backchannel_logout_uri=other.url)
        hint = tokens(browser)["id_token"]
        silent(browser, client_id="other")  # "other" joins the same session
        rp_logout(browser, hint)
        assert finished(sent) == [True, True]
        assert jwt.decode(other.logout_tokens()[0], tenant_jwks(browser)).claims["aud"] == "other"
        assert jwt.decode(receiver.logout_tokens()[0], tenant_jwks(browser)).claims["aud"] == "portal"
    finally:
        other.close()


def test_backchannel_logout_not_sent_to_clients_outside_the_session(browser, provider, user, receiver, sent):
    register_client(provider)
    register_client(provider, client_id="bystander", secret="bystander-secret-0123",
                    backchannel_logout_uri=receiver.url)
    rp_logout(browser, tokens(browser)["id_token"])
    assert finished(sent) == []
    assert receiver.requests == []


def test_backchannel_logout_failure_does_not_block_logout(browser, provider, user, sent):
    failing = Receiver(status=500)
    try:
        register_client(provider, backchannel_logout_uri=failing.url)
        rp_logout(browser, tokens(browser)["id_token"])
        assert finished(sent) == [False]
        events = provider.audit.events("kwsp", event="logout.backchannel")
        assert [e.outcome for e in events] == ["failure"]
    finally:
        failing.close()
    assert "error=login_required" in authorize(browser, prompt="none").headers["Location"]


def test_backchannel_logout_after_confirmed_logout_without_hint(browser, provider, user, receiver, sent):
    register_client(provider, backchannel_logout_uri=receiver.url)
    tokens(browser)
    page = browser.get(LOGOUT)
    browser.post(LOGOUT, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert finished(sent) == [True]
    assert len(receiver.logout_tokens()) == 1


def test_another_users_sign_in_logs_the_first_out_of_its_clients(browser, provider, user, receiver, monkeypatch):
    # the browser's session ends when someone else signs in there (prompt=login): its clients
    # hear of it as of a logout (Back-Channel Logout 2)
    from idp.views import finish as finish_view
    from tests.helpers import make_user, sign_in
    futures = deliveries(monkeypatch, finish_view)
    register_client(provider, backchannel_logout_uri=receiver.url)
    make_user(provider, username="siti", email="siti@example.com")
    first = validate_id_token(browser, tokens(browser, nonce="n-1")["id_token"], nonce="n-1")
    sign_in(browser, authorize(browser, prompt="login"))  # ali again: the same session goes on
    assert futures == []
    sign_in(browser, authorize(browser, prompt="login"), username="siti")
    assert finished(futures) == [True]
    claims = jwt.decode(receiver.logout_tokens()[0], tenant_jwks(browser)).claims
    assert (claims["sub"], claims["sid"]) == (user["id"], first["sid"])


def test_sessions_ended_by_the_helpdesk_log_their_clients_out(browser, provider, user, receiver, monkeypatch):
    # a deactivation (or a termination, or a password reset) ends every session of the account
    # in every browser: each session's clients hear of it, with that session's sid
    from idp import lifecycle
    futures = deliveries(monkeypatch, lifecycle)
    register_client(provider, backchannel_logout_uri=receiver.url)
    other_browser = browser.application.test_client()
    sids = {validate_id_token(b, tokens(b, nonce="n")["id_token"], nonce="n")["sid"] for b in (browser, other_browser)}
    assert len(sids) == 2
    provider.lifecycle.deactivate(provider.tenants["kwsp"], provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    assert finished(futures) == [True, True]
    told = [jwt.decode(t, tenant_jwks(browser)).claims for t in receiver.logout_tokens()]
    assert {c["sid"] for c in told} == sids and {c["sub"] for c in told} == {user["id"]}


def test_a_logout_token_that_cannot_be_made_stops_nothing(browser, provider, user, receiver, monkeypatch):
    # the key store failing at that moment: the deactivation and its revocations stand, audited
    from idp import lifecycle
    from idp.oauth import logout

    def no_key(*args):
        raise RuntimeError("signing key unavailable")
    monkeypatch.setattr(logout, "logout_token", no_key)
    futures = deliveries(monkeypatch, lifecycle)
    register_client(provider, backchannel_logout_uri=receiver.url)
    offline = tokens(browser, scope="openid offline_access")["refresh_token"]
    provider.lifecycle.deactivate(provider.tenants["kwsp"], provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    assert finished(futures) == [False]
    provider.lifecycle.reactivate(provider.tenants["kwsp"], provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    refreshed = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "refresh_token", "refresh_token": offline})
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    failed = [e for e in provider.audit.events("kwsp") if e.event == "logout.backchannel"]
    assert failed and all(e.outcome == "failure" for e in failed) and receiver.requests == []
