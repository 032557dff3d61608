"""Token revocation (RFC 7009): access tokens (JWT and opaque) and refresh tokens; revoking a
refresh token revokes its grant's access tokens (2.1); only the owning client may revoke."""
import pytest

from tests.helpers import REDIRECT, basic, login, pkce, register_client
from tests.oidc.support import tokens

REVOKE = "/t/kwsp/token/revoke"
OTHER_SECRET = "other-secret-0123456789"


def revoke(browser, token, headers=None, **extra):
    return browser.post(REVOKE, data={"token": token, **extra}, headers=basic() if headers is None else headers)


def active(browser, token):
    return browser.post("/t/kwsp/token/introspect", data={"token": token}, headers=basic()).json["active"]


def userinfo_status(browser, token):
    return browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code


def refresh_status(browser, token):
    return browser.post("/t/kwsp/token", headers=basic(),
                        data={"grant_type": "refresh_token", "refresh_token": token}).status_code


@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
def test_revoke_access_token(browser, provider, user, fmt):
    register_client(provider, access_token_format=fmt)
    body = tokens(browser)
    assert userinfo_status(browser, body["access_token"]) == 200
    response = revoke(browser, body["access_token"], token_type_hint="access_token")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert active(browser, body["access_token"]) is False
    assert userinfo_status(browser, body["access_token"]) == 401
    assert refresh_status(browser, body["refresh_token"]) == 200  # only the access token went


def test_revoke_refresh_token_revokes_grant(browser, rp, user):
    body = tokens(browser)
    assert revoke(browser, body["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert refresh_status(browser, body["refresh_token"]) == 400
    assert active(browser, body["access_token"]) is False
    assert userinfo_status(browser, body["access_token"]) == 401


def test_revoke_unknown_token_is_ok(browser, rp):
    assert revoke(browser, "never-issued").status_code == 200  # RFC 7009 2.2


@pytest.mark.parametrize("hint", ["id_token", "refresh", "urn:ietf:params:oauth:token-type:refresh_token"])
def test_a_hint_the_server_does_not_know_still_revokes(browser, rp, user, hint):
    # RFC 7009 2.1: the search goes on across every kind the server revokes; a client revoking
    # at logout with an odd hint must not leave its refresh token alive
    body = tokens(browser)
    assert revoke(browser, body["refresh_token"], token_type_hint=hint).status_code == 200
    assert active(browser, body["refresh_token"]) is False


def test_revoke_needs_client_authentication(browser, rp, user):
    body = tokens(browser)
    response = revoke(browser, body["refresh_token"], headers={})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert active(browser, body["refresh_token"]) is True


def test_revoke_other_clients_token_refused(browser, provider, rp, user):
    register_client(provider, client_id="other", secret=OTHER_SECRET)
    body = tokens(browser)
    response = revoke(browser, body["refresh_token"], headers=basic("other", OTHER_SECRET))
    assert response.status_code == 400
    assert active(browser, body["refresh_token"]) is True
    assert active(browser, body["access_token"]) is True


def test_public_client_revokes_its_refresh_token(browser, provider, user):
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code", "refresh_token"])
    verifier, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    body = browser.post("/t/kwsp/token", data={"grant_type": "authorization_code", "code": code, "client_id": "spa",
                                               "redirect_uri": REDIRECT, "code_verifier": verifier}).json
    assert browser.post(REVOKE, data={"token": body["refresh_token"], "client_id": "spa"}).status_code == 200
    response = browser.post("/t/kwsp/token", data={"grant_type": "refresh_token", "client_id": "spa",
                                                   "refresh_token": body["refresh_token"]})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
