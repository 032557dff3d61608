"""UserInfo (OIDC Core 5.3, RFC 6750 2): `oidcc-userinfo-get`, `-post-header`, `-post-body`, the
`oidcc-scope-*` modules and `oidcc-claims-essential` for UserInfo."""
import json
import time

import pytest

from idp.oauth import tokens as token_module
from tests.helpers import basic, exchange, register_client
from tests.oidc.support import silent, tokens, validate_id_token

USERINFO = "/t/kwsp/userinfo"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response, error="invalid_token"):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["error"] == error


def test_oidcc_userinfo_get(browser, rp, user):
    body = tokens(browser, nonce="n")
    response = browser.get(USERINFO, headers=bearer(body["access_token"]))
    assert response.status_code == 200
    info = response.json
    assert info["sub"] == validate_id_token(browser, body["id_token"], nonce="n")["sub"] == user["id"]
    assert info["name"] == "Ali bin Abu" and info["email"] == "ali@example.com"
    assert response.headers["Cache-Control"] == "no-store"


def test_oidcc_userinfo_post_header(browser, rp, user):
    token = tokens(browser)["access_token"]
    response = browser.post(USERINFO, headers=bearer(token))
    assert response.status_code == 200 and response.json["sub"] == user["id"]


def test_oidcc_userinfo_post_body(browser, rp, user):
    token = tokens(browser)["access_token"]
    response = browser.post(USERINFO, data={"access_token": token})
    assert response.status_code == 200 and response.json["sub"] == user["id"]


def test_userinfo_token_in_a_multipart_body_is_no_token(browser, rp, user):
    # RFC 6750 2.2: a body token only in an application/x-www-form-urlencoded body
    token = tokens(browser)["access_token"]
    response = browser.post(USERINFO, data={"access_token": token}, content_type="multipart/form-data")
    assert response.status_code == 401 and "sub" not in response.json


def test_userinfo_get_with_token_in_query_refused(browser, rp, user):
    # RFC 6750 2.3 is not supported: tokens in URLs leak into logs
    token = tokens(browser)["access_token"]
    response = browser.get(USERINFO, query_string={"access_token": token})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_userinfo_token_in_header_and_body_is_invalid_request(browser, rp, user):
    token = tokens(browser)["access_token"]
    response = browser.post(USERINFO, headers=bearer(token), data={"access_token": token})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_oidcc_scope_profile(browser, rp, user):
    info = browser.get(USERINFO, headers=bearer(tokens(browser, scope="openid profile")["access_token"])).json
    assert info["name"] == "Ali bin Abu" and info["preferred_username"] == "ali"
    assert "email" not in info and "phone_number" not in info


def test_oidcc_scope_email(browser, rp, user):
    info = browser.get(USERINFO, headers=bearer(tokens(browser, scope="openid email")["access_token"])).json
    assert info["email"] == "ali@example.com" and info["email_verified"] is False
    assert "name" not in info


def test_oidcc_scope_phone(browser, rp, user):
    info = browser.get(USERINFO, headers=bearer(tokens(browser, scope="openid phone")["access_token"])).json
    assert info["phone_number"] and info["phone_number_verified"] is False
    assert "name" not in info and "email" not in info


def test_oidcc_scope_address_not_supported_is_ignored(browser, rp, user):
    meta = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert "address" not in meta["scopes_supported"]
    body = tokens(browser, scope="openid address")
    assert "address" not in body["scope"].split()
    assert "address" not in browser.get(USERINFO, headers=bearer(body["access_token"])).json


def test_oidcc_scope_all(browser, rp, user):
    body = tokens(browser, scope="openid profile email phone address")
    info = browser.get(USERINFO, headers=bearer(body["access_token"])).json
    assert {"sub", "name", "preferred_username", "email", "email_verified", "phone_number"} <= set(info)


def test_oidcc_claims_essential_name_in_userinfo(browser, rp, user):
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    body = tokens(browser, scope="openid", claims=claims)
    info = browser.get(USERINFO, headers=bearer(body["access_token"])).json
    assert info["name"] == "Ali bin Abu"
    assert "email" not in info


def test_userinfo_only_for_openid_scope(browser, provider, user):
    register_client(provider, scope="openid profile")
    body = tokens(browser, scope="profile")  # plain OAuth: no openid, no UserInfo
    response = browser.get(USERINFO, headers=bearer(body["access_token"]))
    # RFC 6750 3.1: the token is good, its scope is not enough
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert response.json["error"] == "insufficient_scope"


@pytest.mark.parametrize("state, status", [("deactivated", 401), ("terminated", 401), ("locked", 200)])
def test_userinfo_follows_the_account(browser, provider, rp, user, state, status):
    # the refresh grant's rule: nothing more for an account that can no longer sign in
    token = tokens(browser)["access_token"]
    provider.accounts.update("kwsp", user["id"], state=state)  # the state alone, not the life cycle's revocations
    response = browser.get(USERINFO, headers=bearer(token))
    if status == 401:
        assert_unauthorized(response)
    else:
        assert response.status_code == 200 and response.json["sub"] == user["id"]


def test_userinfo_refuses_a_session_bound_token_after_logout(browser, provider, rp, user):
    bound = tokens(browser, scope="openid email")
    offline = exchange(browser, silent(browser, scope="openid offline_access")["code"]).json  # the same session
    assert browser.get(USERINFO, headers=bearer(bound["access_token"])).status_code == 200
    logout = browser.get("/t/kwsp/logout", query_string={"id_token_hint": bound["id_token"],
                                                        "post_logout_redirect_uri": "https://rp.example/bye"})
    assert logout.status_code == 302
    assert_unauthorized(browser.get(USERINFO, headers=bearer(bound["access_token"])))
    assert browser.get(USERINFO, headers=bearer(offline["access_token"])).json["sub"] == user["id"]


def test_userinfo_refuses_a_session_bound_token_after_a_password_change(browser, provider, rp, user):
    from idp.self_service import SelfService
    bound = tokens(browser, scope="openid email")
    offline = exchange(browser, silent(browser, scope="openid offline_access")["code"]).json
    SelfService(provider).set_password(provider.tenants["kwsp"], user["id"], "a new one, long enough", None, "change")
    assert_unauthorized(browser.get(USERINFO, headers=bearer(bound["access_token"])))
    assert browser.get(USERINFO, headers=bearer(offline["access_token"])).status_code == 200  # a change keeps it


def test_userinfo_without_token(browser, rp):
    response = browser.get(USERINFO)
    assert response.status_code == 401
    assert "error=" not in response.headers["WWW-Authenticate"]  # RFC 6750 3.1: no error without a token
    assert "error" not in response.json


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000, "eyJhbGciOiJub25lIn0.e30."])
def test_userinfo_invalid_token(browser, rp, token):
    assert_unauthorized(browser.get(USERINFO, headers=bearer(token)))


def test_id_token_is_not_an_access_token(browser, rp, user):
    id_token = tokens(browser)["id_token"]
    assert_unauthorized(browser.get(USERINFO, headers=bearer(id_token)))


def test_client_credentials_token_has_no_userinfo(browser, rp):
    token = browser.post("/t/kwsp/token", headers=basic(),
                         data={"grant_type": "client_credentials", "scope": "api"}).json["access_token"]
    assert_unauthorized(browser.get(USERINFO, headers=bearer(token)))


def test_expired_access_token_refused(browser, rp, user, monkeypatch):
    token = tokens(browser)["access_token"]

    class FiveMinutesLater:
        @staticmethod
        def time():
            return time.time() + 301
    monkeypatch.setattr(token_module, "time", FiveMinutesLater)
    assert_unauthorized(browser.get(USERINFO, headers=bearer(token)))


def test_access_token_of_another_tenant_refused(browser, rp, user):
    token = tokens(browser)["access_token"]
    assert_unauthorized(browser.get("/t/perkeso/userinfo", headers=bearer(token)))


def test_opaque_access_token_at_userinfo(browser, provider, user):
    register_client(provider, access_token_format="opaque")
    token = tokens(browser)["access_token"]
    assert token.count(".") == 0
    response = browser.get(USERINFO, headers=bearer(token))
    assert response.status_code == 200 and response.json["sub"] == user["id"]


def test_opaque_access_token_of_another_tenant_refused(browser, provider, user):
    register_client(provider, access_token_format="opaque")
    token = tokens(browser)["access_token"]
    assert_unauthorized(browser.get("/t/perkeso/userinfo", headers=bearer(token)))


def test_claims_parameter_stays_within_registered_scopes(browser, provider, user):
    """The claims parameter picks among what the client may see (Core 5.5); it cannot widen it."""
    register_client(provider, scope="openid")
    claims = json.dumps({"userinfo": {"email": None, "phone_number": {"essential": True}, "name": None},
                         "id_token": {"preferred_username": {"essential": True}, "email": None}})
    body = tokens(browser, scope="openid", claims=claims, nonce="n")
    info = browser.get(USERINFO, headers=bearer(body["access_token"])).json
    assert info == {"sub": user["id"]}
    id_token = validate_id_token(browser, body["id_token"], nonce="n")
    assert not {"preferred_username", "email"} & set(id_token)
