"""Token introspection (RFC 7662) for JWT and opaque access tokens and for refresh tokens; only
authenticated confidential clients of the same tenant may ask."""
import pytest

from tests.helpers import basic, exchange, register_client
from tests.oidc.support import ISSUER, silent, tokens

INTROSPECT = "/t/kwsp/token/introspect"
RS_SECRET = "resource-server-secret-01"


def introspect(browser, token, headers=None, tenant="kwsp", **extra):
    response = browser.post(f"/t/{tenant}/token/introspect", data={"token": token, **extra},
                            headers=headers if headers is not None else basic())
    return response


def test_introspection_jwt_access_token(browser, rp, user):
    body = tokens(browser, scope="openid profile")
    response = introspect(browser, body["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    info = response.json
    assert info["active"] is True
    assert info["token_type"] == "Bearer"
    assert info["client_id"] == "portal" and info["sub"] == user["id"] and info["username"] == "ali"
    assert info["iss"] == ISSUER and set(info["scope"].split()) == {"openid", "profile"}
    assert info["exp"] > info["iat"]


def test_introspection_opaque_access_token(browser, provider, user):
    register_client(provider, access_token_format="opaque")
    token = tokens(browser)["access_token"]
    assert "." not in token
    info = introspect(browser, token).json
    assert info["active"] is True and info["sub"] == user["id"] and info["client_id"] == "portal"


def test_introspection_refresh_token(browser, rp, user):
    token = tokens(browser)["refresh_token"]
    info = introspect(browser, token, token_type_hint="refresh_token").json
    assert info["active"] is True
    assert info["token_type"] == "refresh_token" and info["sub"] == user["id"]


def test_introspection_by_a_resource_server_client(browser, provider, rp, user):
    register_client(provider, client_id="api", secret=RS_SECRET, grant_types=["client_credentials"], redirect_uris=[],
                    resource_server=True)
    token = tokens(browser)["access_token"]
    assert introspect(browser, token, headers=basic("api", RS_SECRET)).json["active"] is True


def test_another_portal_learns_nothing_of_a_portals_tokens(browser, provider, rp, user):
    # RFC 7662 2.2, 4: who is signed in where, and with what, is not another portal's to see
    register_client(provider, client_id="other", secret=RS_SECRET)
    body = tokens(browser, scope="openid offline_access")
    for token in (body["access_token"], body["refresh_token"]):
        assert introspect(browser, token, headers=basic("other", RS_SECRET)).json == {"active": False}
        assert introspect(browser, token).json["active"] is True  # its own client still may
    refused = provider.audit.events("kwsp", event="token.wrong_client")
    assert [(e.client_id, e.detail["kind"]) for e in refused] == [("other", "access_token"), ("other", "refresh_token")]


def test_refresh_token_introspected_only_by_its_client(browser, provider, rp, user):
    # RFC 7662 4: another client (a resource server or a portal) learns nothing of it
    register_client(provider, client_id="api", secret=RS_SECRET, grant_types=["client_credentials"], redirect_uris=[],
                    resource_server=True)
    body = tokens(browser, scope="openid offline_access")
    assert introspect(browser, body["refresh_token"], headers=basic("api", RS_SECRET)).json == {"active": False}
    assert introspect(browser, body["access_token"], headers=basic("api", RS_SECRET)).json["active"] is True
    assert introspect(browser, body["refresh_token"]).json["active"] is True


@pytest.mark.parametrize("state, active", [("deactivated", False), ("terminated", False), ("dormant", False),
                                           ("locked", True)])
def test_introspection_follows_the_account(browser, provider, rp, user, state, active):
    # the refresh grant's rule: a token is inactive once its account can no longer sign in
    body = tokens(browser, scope="openid offline_access")
    provider.accounts.update("kwsp", user["id"], state=state)  # the state alone, not the life cycle's revocations
    assert introspect(browser, body["access_token"]).json["active"] is active
    assert introspect(browser, body["refresh_token"]).json["active"] is active


def _log_out(browser, id_token):
    response = browser.get("/t/kwsp/logout", query_string={"id_token_hint": id_token,
                                                         "post_logout_redirect_uri": "https://rp.example/bye"})
    assert response.status_code == 302


def test_introspection_refresh_token_ends_with_its_session(browser, rp, user):
    # without offline_access the refresh grant refuses it once the session ends (OIDC Core 11)
    bound = tokens(browser, scope="openid email")
    offline = exchange(browser, silent(browser, scope="openid offline_access")["code"]).json  # the same session
    _log_out(browser, bound["id_token"])
    assert introspect(browser, bound["refresh_token"]).json == {"active": False}
    assert introspect(browser, offline["refresh_token"]).json["active"] is True


@pytest.mark.parametrize("opaque", [False, True])
def test_introspection_access_token_ends_with_its_session(browser, provider, user, opaque):
    # as its refresh token (node-oidc-provider's expiresWithSession): a logout ends a token of a
    # grant bound to the sign-in; an offline grant's goes on
    register_client(provider, **({"access_token_format": "opaque"} if opaque else {}))
    bound = tokens(browser, scope="openid email")
    offline = exchange(browser, silent(browser, scope="openid offline_access")["code"]).json  # the same session
    assert introspect(browser, bound["access_token"]).json["active"] is True
    _log_out(browser, bound["id_token"])
    assert introspect(browser, bound["access_token"]).json == {"active": False}
    assert introspect(browser, offline["access_token"]).json["active"] is True
    refreshed = browser.post("/t/kwsp/token", headers=basic(), data={
        "grant_type": "refresh_token", "refresh_token": offline["refresh_token"], "scope": "openid"}).json
    assert introspect(browser, refreshed["access_token"]).json["active"] is True  # narrowed, the grant offline


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 10000, ""])
def test_introspection_unknown_token_inactive(browser, rp, token):
    response = introspect(browser, token)
    assert response.status_code == 200
    assert response.json == {"active": False}


def test_introspection_id_token_inactive(browser, rp, user):
    assert introspect(browser, tokens(browser)["id_token"]).json == {"active": False}


def test_introspection_requires_client_authentication(browser, rp, user):
    token = tokens(browser)["access_token"]
    response = introspect(browser, token, headers={})
    assert response.status_code in (400, 401)
    assert response.json["error"] == "invalid_client"
    assert "active" not in response.json


def test_introspection_refused_to_public_clients(browser, provider, rp, user):
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code"])
    token = tokens(browser)["access_token"]
    response = browser.post(INTROSPECT, data={"token": token, "client_id": "spa"})
    assert response.json.get("error") == "invalid_client"


@pytest.mark.parametrize("opaque", [False, True])
def test_introspection_other_tenant_sees_nothing(browser, provider, user, opaque):
    register_client(provider, access_token_format="opaque" if opaque else "jwt")
    register_client(provider, tenant="perkeso")  # same client id and secret in another tenant
    body = tokens(browser)
    for token in (body["access_token"], body["refresh_token"]):
        assert introspect(browser, token, tenant="perkeso").json == {"active": False}


def test_introspection_missing_token_is_invalid_request(browser, rp):
    response = browser.post(INTROSPECT, data={}, headers=basic())
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_introspection_ignores_an_unknown_token_type_hint(browser, rp, user, kind):
    # RFC 7662 2.1: the server searches every kind of token it has
    response = introspect(browser, tokens(browser)[kind], token_type_hint="id_token")
    assert response.status_code == 200
    assert response.json["active"] is True


def test_a_deleted_clients_access_tokens_end_with_it(browser, provider, rp, user):
    # its codes and refresh tokens end at once; its access tokens must not outlive it either
    register_client(provider, client_id="api", secret=RS_SECRET, grant_types=["client_credentials"], redirect_uris=[],
                    resource_server=True)
    user_token = tokens(browser)["access_token"]
    own_token = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "client_credentials", "scope": "api"}).json["access_token"]
    for token in (user_token, own_token):
        assert introspect(browser, token, headers=basic("api", RS_SECRET)).json["active"] is True
    provider.clients.delete("kwsp", "portal")
    for token in (user_token, own_token):
        assert introspect(browser, token, headers=basic("api", RS_SECRET)).json == {"active": False}
    assert browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {user_token}"}).status_code == 401
