"""The authorization code grant at the token endpoint (RFC 6749 4.1.3, OIDC Core 3.1.3): codes are
single use, live 60 s, are bound to the client and redirect URI, and a replay revokes what the
code issued (`oidcc-codereuse`, `oidcc-codereuse-30seconds`, RFC 9700 4.2.4)."""
import time

import pytest

from idp.ephemeral import sql_store
from idp.oauth.subject import store_key
from tests.helpers import basic, exchange, login, register_client
from tests.oidc.support import ShiftedClock, id_token_key_read_fails, validate_id_token

INTROSPECT = "/t/kwsp/token/introspect"


def later(monkeypatch, seconds):
    monkeypatch.setattr(sql_store, "time", ShiftedClock(seconds))


def active(browser, token, client_id="portal"):
    response = browser.post(INTROSPECT, data={"token": token}, headers=basic(client_id))
    assert response.status_code == 200
    return response.json["active"]


def assert_invalid_grant(response):
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "no-store"


def test_oidcc_server_token_response(browser, rp, user):
    result = login(browser, nonce="n-1")
    response = exchange(browser, result["code"])
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert set(body["scope"].split()) == {"openid", "profile", "email"}
    validate_id_token(browser, body["id_token"], nonce="n-1", access_token=body["access_token"])


def test_token_response_cache_control_no_store(browser, rp, user):
    response = exchange(browser, login(browser)["code"])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert_invalid_grant(exchange(browser, "bogus-code"))  # errors too (RFC 6749 5.1)


def test_oidcc_codereuse(browser, rp, user):
    code = login(browser)["code"]
    assert exchange(browser, code).status_code == 200
    assert_invalid_grant(exchange(browser, code))


def test_code_reuse_by_a_client_without_refresh_tokens_revokes_its_access_token(browser, provider, user):
    # no refresh token to store with it: the code is spent on its own (retire, not rotate)
    register_client(provider, client_id="web", grant_types=["authorization_code"])
    code = login(browser, client_id="web")["code"]
    first = exchange(browser, code, client_id="web")
    assert first.status_code == 200 and "refresh_token" not in first.json
    assert active(browser, first.json["access_token"], client_id="web")
    assert_invalid_grant(exchange(browser, code, client_id="web"))
    assert active(browser, first.json["access_token"], client_id="web") is False


def test_oidcc_codereuse_revokes_tokens(browser, rp, user):
    code = login(browser, scope="openid profile offline_access")["code"]
    first = exchange(browser, code).json
    assert active(browser, first["access_token"]) and active(browser, first["refresh_token"])
    assert_invalid_grant(exchange(browser, code))
    assert active(browser, first["access_token"]) is False
    assert active(browser, first["refresh_token"]) is False
    userinfo = browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert userinfo.status_code == 401
    refreshed = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert_invalid_grant(refreshed)


def test_codereuse_with_a_tombstone_in_the_earlier_shape_revokes(browser, provider, rp, user):
    # used codes recorded before retire() held only the grant id
    code = login(browser, scope="openid offline_access")["code"]
    first = exchange(browser, code).json
    key = store_key(provider.tenants["kwsp"], code)
    grant_id = provider.store.get("code_used", key)["subject"]["grant_id"]
    provider.store.put("code_used", key, {"grant_id": grant_id}, 3600)
    assert_invalid_grant(exchange(browser, code))
    assert active(browser, first["refresh_token"]) is False


def test_oidcc_codereuse_30seconds(browser, rp, user, monkeypatch):
    code = login(browser)["code"]
    first = exchange(browser, code).json
    later(monkeypatch, 30)
    assert_invalid_grant(exchange(browser, code))
    monkeypatch.undo()
    assert active(browser, first["access_token"]) is False


def test_code_lifetime_is_60_seconds(browser, provider, rp, user):
    login(browser)
    with provider.database.engine.connect() as conn:
        expires_at, = conn.exec_driver_sql("SELECT expires_at FROM ephemeral WHERE kind = 'code'").one()
    assert 55 <= expires_at - time.time() <= 60


def test_code_expired_after_60_seconds(browser, rp, user, monkeypatch):
    code = login(browser)["code"]
    later(monkeypatch, 61)
    assert_invalid_grant(exchange(browser, code))


def test_code_still_valid_within_60_seconds(browser, rp, user, monkeypatch):
    code = login(browser)["code"]
    later(monkeypatch, 50)
    assert exchange(browser, code).status_code == 200


def test_code_bound_to_client(browser, provider, rp, user):
    register_client(provider, client_id="other", secret="other-secret-0123456789")
    code = login(browser)["code"]
    assert_invalid_grant(exchange(browser, code, client_id="other", secret="other-secret-0123456789"))
    # another client's attempt does not spend the code for its owner
    assert exchange(browser, code).status_code == 200


def test_code_bound_to_redirect_uri(browser, provider, user):
    register_client(provider, redirect_uris=["https://rp.example/cb", "https://rp.example/cb2"])
    code = login(browser)["code"]
    response = browser.post("/t/kwsp/token", headers=basic(), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://rp.example/cb2"})
    assert_invalid_grant(response)


def test_code_redemption_needs_redirect_uri(browser, rp, user):
    code = login(browser)["code"]
    response = browser.post("/t/kwsp/token", headers=basic(), data={"grant_type": "authorization_code", "code": code})
    assert_invalid_grant(response)


def test_code_of_another_tenant_refused(browser, provider, rp, user):
    register_client(provider, tenant="perkeso")
    code = login(browser)["code"]
    response = browser.post("/t/perkeso/token", headers=basic(), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://rp.example/cb"})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
def test_rfc9700_no_password_or_implicit_grant(browser, rp, grant_type):
    response = browser.post("/t/kwsp/token", headers=basic(),
                            data={"grant_type": grant_type, "username": "ali", "password": "x"})
    assert response.status_code == 400
    assert response.json["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("data", [{}, {"grant_type": ""}, {"code": "x"}])
def test_missing_grant_type_is_invalid_request(browser, rp, data):
    response = browser.post("/t/kwsp/token", headers=basic(), data=data)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_code_from_a_session_that_ended_is_refused(browser, provider, rp, user):
    # a password reset (or a logout) in the code's 60 s ends what the sign-in was about to grant
    code = login(browser, scope="openid offline_access")["code"]
    provider.sessions.end_all(user["id"])
    response = exchange(browser, code)
    assert_invalid_grant(response)
    assert response.json["error_description"] == "The session this code belongs to has ended."


def test_a_lockout_does_not_stop_the_code_exchange(browser, provider, rp, user):
    # a stranger's wrong passwords lock the account; the user who just signed in still gets tokens
    code = login(browser)["code"]
    tenant = provider.tenants["kwsp"]
    for attempt in range(tenant.lockout.threshold):
        provider.sign_in(tenant, "ali", f"wrong guess {attempt}", "203.0.113.9")
    assert provider.accounts.find("kwsp", "ali").state == "locked"
    assert exchange(browser, code).status_code == 200


def test_a_reset_landing_during_the_code_exchange_ends_its_offline_grant(browser, provider, rp, user, monkeypatch):
    # the reset comes right after the exchange found the session live: the grant was listed under
    # the account before that check, so the reset finds and revokes it
    from idp.self_service import SelfService
    code = login(browser, scope="openid offline_access")["code"]
    tenant, live = provider.tenants["kwsp"], provider.sessions.sid_live

    def reset_lands_after_the_check(*args):
        answer = live(*args)
        monkeypatch.setattr(provider.sessions, "sid_live", live)
        assert SelfService(provider).set_password(tenant, user["id"], "brand new pass phrase", None, "recovery")
        return answer
    monkeypatch.setattr(provider.sessions, "sid_live", reset_lands_after_the_check)
    response = exchange(browser, code)
    if response.status_code == 200:  # tokens made before the revocation reached them
        refreshed = browser.post("/t/kwsp/token", headers=basic(), data={
            "grant_type": "refresh_token", "refresh_token": response.json["refresh_token"]})
        response = refreshed
    assert_invalid_grant(response)


@pytest.mark.parametrize("failing", ["get", "rotate"])
def test_a_store_failing_during_a_code_exchange_leaves_the_code_to_a_retry(browser, provider, rp, user, monkeypatch,
                                                                          failing):
    # the store goes down as the code is read, or as it is spent and the refresh token stored
    # (one atomic step): the client's retry within the code's 60 s is not taken for a replay
    # (which would revoke the grant)
    import redis
    code = login(browser, scope="openid offline_access")["code"]
    real = getattr(provider.store, failing)

    def store_down(kind, *args, **kwargs):
        if kind in ("refresh", "code"):
            raise redis.exceptions.ConnectionError("the store went away")
        return real(kind, *args, **kwargs)
    monkeypatch.setattr(provider.store, failing, store_down)
    assert exchange(browser, code).status_code == 503
    monkeypatch.undo()
    retried = exchange(browser, code)
    assert retried.status_code == 200, retried.json
    assert not provider.audit.events("kwsp", event="grant.revoked")
    assert exchange(browser, code).status_code == 400  # and then it is spent


def test_the_same_code_sent_twice_at_once_is_a_replay(browser, provider, rp, user, monkeypatch):
    # both read it unspent and make tokens; the second to spend it finds the tombstone, and stores nothing
    code = login(browser, scope="openid offline_access")["code"]
    rotate, sent_again, racing = provider.store.rotate, [], []

    def the_other_request_spends_it_first(kind, *args, **kwargs):
        if kind == "code" and not racing:
            racing.append(True)
            sent_again.append(exchange(browser, code))
        return rotate(kind, *args, **kwargs)
    monkeypatch.setattr(provider.store, "rotate", the_other_request_spends_it_first)
    loser = exchange(browser, code)
    monkeypatch.undo()
    assert loser.status_code == 400 and loser.json["error"] == "invalid_grant"
    winner, = sent_again
    assert winner.status_code == 200
    refreshed = browser.post("/t/kwsp/token", headers=basic(), data={
        "grant_type": "refresh_token", "refresh_token": winner.json["refresh_token"]})
    assert refreshed.status_code == 400  # revoked with everything issued from the code
    assert [e.detail["reason"] for e in provider.audit.events("kwsp", event="grant.revoked")] == ["code_replay"]


def test_a_store_failing_as_the_id_token_is_made_leaves_the_code_to_a_retry(browser, provider, rp, user,
                                                                           monkeypatch):
    # the ID token is made in a hook after the tokens are stored; its key or claims read failing
    # must not leave the code spent (the retry would be a replay)
    code = login(browser, scope="openid offline_access")["code"]
    id_token_key_read_fails(monkeypatch, provider)
    assert exchange(browser, code).status_code == 503
    monkeypatch.undo()
    assert exchange(browser, code).status_code == 200
    assert not provider.audit.events("kwsp", event="grant.revoked")


def test_every_refused_code_is_on_the_audit_trail(browser, provider, rp, user):
    # the first replay revokes the grant and is recorded as such; the tries after it find
    # nothing, and must be on the trail too (an attacker trying on)
    code = login(browser)["code"]
    assert exchange(browser, code).status_code == 200
    for _ in range(3):
        assert exchange(browser, code).status_code == 400
    assert exchange(browser, "never-issued").status_code == 400
    refused = provider.audit.events("kwsp", event="token.refused")
    assert [(e.client_id, e.detail["grant_type"]) for e in refused] == [("portal", "authorization_code")] * 4
    assert all(e.ip for e in refused)
