"""The client credentials grant (RFC 6749 4.4): an access token for the client itself, no refresh
token, no ID token, scopes limited to the client's registration."""
from tests.helpers import basic, register_client
from tests.oidc.support import verify_signed

TOKEN = "/t/kwsp/token"


def client_credentials(browser, scope="api", client_id="portal", secret=None):
    headers = basic(client_id, secret) if secret else basic()
    return browser.post(TOKEN, data={"grant_type": "client_credentials", "scope": scope}, headers=headers)


def test_client_credentials_issues_client_token(browser, rp):
    response = client_credentials(browser)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert "refresh_token" not in body and "id_token" not in body
    claims = verify_signed(browser, body["access_token"], "RS256").claims
    assert claims["sub"] == claims["client_id"] == "portal"
    assert claims["scope"] == "api"


def test_client_credentials_rfc9068_access_token(browser, rp):
    token = verify_signed(browser, client_credentials(browser).json["access_token"], "RS256")
    assert token.header["typ"] == "at+jwt"
    assert {"iss", "exp", "iat", "jti", "client_id", "aud"} <= set(token.claims)


def test_client_credentials_unregistered_scope_dropped(browser, rp):
    body = client_credentials(browser, scope="api admin api").json
    assert body["scope"] == "api"  # RFC 6749 5.1: said, since it differs from what was asked


def test_client_credentials_never_grants_a_users_scopes(browser, rp):
    # registered for the client, but they stand for a user's consent, and there is no user here
    body = client_credentials(browser, scope="openid profile membership api").json
    assert body["scope"] == "api"
    assert verify_signed(browser, body["access_token"], "RS256").claims["scope"] == "api"
    response = client_credentials(browser, scope="membership profile")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_client_credentials_with_none_of_its_scopes_is_invalid_scope(browser, rp):
    # RFC 6749 3.3, 5.2: not a token for nothing, which a library reads as granted as asked
    response = client_credentials(browser, scope="admin")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_client_credentials_without_a_scope_and_no_api_scope_to_default_to_is_invalid_scope(browser, provider):
    register_client(provider, client_id="svc", grant_types=["client_credentials"], scope="openid membership")
    response = browser.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("svc"))
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_client_credentials_without_a_scope_gets_the_clients_api_scopes(browser, provider):
    register_client(provider, client_id="svc", grant_types=["client_credentials"], scope="openid api.read api.write")
    response = browser.post(TOKEN, data={"grant_type": "client_credentials"}, headers=basic("svc"))
    assert response.status_code == 200 and response.json["scope"] == "api.read api.write"  # not openid
    assert verify_signed(browser, response.json["access_token"], "RS256").claims["scope"] == "api.read api.write"


def test_client_credentials_needs_the_grant_registered(browser, provider):
    register_client(provider, client_id="web", secret="web-secret-0123456789",
                    grant_types=["authorization_code"])
    response = client_credentials(browser, client_id="web", secret="web-secret-0123456789")
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"


def test_client_credentials_wrong_secret(browser, rp):
    response = client_credentials(browser, secret="wrong-secret-0123456789")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert "access_token" not in response.json


def test_client_credentials_introspection(browser, rp):
    token = client_credentials(browser).json["access_token"]
    info = browser.post("/t/kwsp/token/introspect", data={"token": token}, headers=basic()).json
    assert info["active"] is True and info["client_id"] == "portal" and "username" not in info
