"""OIDF Config OP plan: `oidcc-discovery-endpoint-verification` (OIDC Discovery 1.0 section 3,
RFC 8414), and the JWKS it points to."""
import pytest
from joserfc.jwk import KeySet

from idp import create_app

from tests.oidc.support import ISSUER

REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                      "end_session_endpoint", "introspection_endpoint", "revocation_endpoint")


def discover(browser, tenant="kwsp"):
    response = browser.get(f"/t/{tenant}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_oidcc_discovery_issuer_equals_discovery_base(browser):
    meta = discover(browser)
    assert meta["issuer"] == ISSUER
    # each tenant is its own issuer
    assert discover(browser, "perkeso")["issuer"] == "http://127.0.0.1:8000/t/perkeso"


def test_oidcc_discovery_required_endpoints_under_issuer(browser):
    meta = discover(browser)
    for name in REQUIRED_ENDPOINTS:
        assert meta[name].startswith(ISSUER + "/"), name


def test_oidcc_discovery_endpoints_are_served(browser):
    meta = discover(browser)
    paths = {name: meta[name].removeprefix("http://127.0.0.1:8000") for name in REQUIRED_ENDPOINTS}
    assert browser.get(paths["jwks_uri"]).status_code == 200
    assert browser.get(paths["userinfo_endpoint"]).status_code == 401
    assert browser.post(paths["token_endpoint"]).status_code in (400, 401)
    assert browser.get(paths["authorization_endpoint"]).status_code == 400


def test_oidcc_discovery_jwks_uri_is_valid_jwks(browser):
    response = browser.get("/t/kwsp/jwks")
    keys = KeySet.import_key_set(response.json)
    algs = {k.alg for k in keys.keys}
    assert {"RS256", "ES256", "EdDSA"} <= algs
    for jwk in response.json["keys"]:
        assert jwk["kid"] and jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "private key material published"


def url_values(meta):
    """Every string in the metadata (at the top level or in a list) that is a URL."""
    for name, value in meta.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and ("://" in item or item.lower().startswith("http")):
                yield name, item


def test_oidcc_discovery_https_public_url(settings):
    app = create_app({**settings, "IDP_PUBLIC_URL": "https://idp.example"})
    response = app.test_client().get("/t/kwsp/.well-known/openid-configuration", base_url="https://idp.example")
    assert response.status_code == 200
    meta = response.json
    assert meta["issuer"] == "https://idp.example/t/kwsp"
    urls = dict(url_values(meta))
    assert set(REQUIRED_ENDPOINTS) <= set(urls)
    for name, url in url_values(meta):
        assert url.startswith("https://idp.example/t/kwsp"), (name, url)


def test_oidcc_discovery_scopes_include_openid(browser):
    assert "openid" in discover(browser)["scopes_supported"]


def test_oidcc_discovery_pkce_s256_only(browser):
    assert discover(browser)["code_challenge_methods_supported"] == ["S256"]


def test_oidcc_discovery_claims_supported(browser):
    claims = discover(browser)["claims_supported"]
    assert {"sub", "iss", "auth_time", "acr", "name", "email", "phone_number"} <= set(claims)


def test_oidcc_discovery_response_grant_subject_types(browser):
    meta = discover(browser)
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["response_modes_supported"]) == {"query", "form_post"}
    # RFC 9700 2.1.2 / 2.4: no implicit, no password grant
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert meta["subject_types_supported"] == ["public"]


def test_oidcc_discovery_signing_algorithms(browser):
    meta = discover(browser)
    assert meta["id_token_signing_alg_values_supported"][0] == "RS256"
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        meta["token_endpoint_auth_methods_supported"])


@pytest.mark.parametrize("endpoint", ["introspection_endpoint", "revocation_endpoint"])
def test_rfc8414_assertion_algorithms_beside_private_key_jwt(browser, endpoint):
    # RFC 8414 2: an endpoint that takes private_key_jwt lists the algorithms, as the token endpoint does
    meta = discover(browser)
    assert "private_key_jwt" in meta[f"{endpoint}_auth_methods_supported"]
    assert meta[f"{endpoint}_auth_signing_alg_values_supported"] == \
        meta["token_endpoint_auth_signing_alg_values_supported"]


def test_rfc9207_iss_parameter_advertised(browser):
    assert discover(browser)["authorization_response_iss_parameter_supported"] is True


def test_request_objects_not_advertised(browser):
    meta = discover(browser)
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False


def test_rfc8414_metadata_matches_openid_configuration(browser):
    oauth = browser.get("/t/kwsp/.well-known/oauth-authorization-server").json
    assert oauth == discover(browser)


def test_rfc8414_metadata_at_the_inserted_well_known_path(browser):
    # RFC 8414 3.1: issuer https://host/t/kwsp -> https://host/.well-known/oauth-authorization-server/t/kwsp
    response = browser.get("/.well-known/oauth-authorization-server/t/kwsp")
    assert response.status_code == 200
    assert response.json == discover(browser)
    assert response.json["issuer"] == "http://127.0.0.1:8000/t/kwsp"  # RFC 8414 3.3: the issuer it was formed from
    unknown = browser.get("/.well-known/oauth-authorization-server/t/nope")
    assert unknown.status_code == 404 and unknown.is_json  # a machine asked: a JSON error, not a page


def test_unknown_tenant_has_no_discovery(browser):
    assert browser.get("/t/nope/.well-known/openid-configuration").status_code == 404
