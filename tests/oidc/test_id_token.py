"""ID tokens (OIDC Core 2, 3.1.3.6-7) as a strict RP validates them: `oidcc-server`,
`oidcc-idtoken-signature`, `oidcc-idtoken-unsigned`, `oidcc-ensure-request-without-nonce-succeeds-
for-code-flow`, per-client ES256 / EdDSA, and `oidcc-claims-essential` for the ID token."""
import base64
import json
import time

import pytest
from joserfc.errors import BadSignatureError
from joserfc.jwk import RSAKey

from idp.clients import ClientError
from tests.helpers import exchange, register_client
from tests.oidc.support import forge, silent, tenant_jwks, tokens, unsigned, validate_id_token, verify_signed


def part(token, index):
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_oidcc_server_id_token_valid(browser, rp, user):
    body = tokens(browser, nonce="n-server")
    claims = validate_id_token(browser, body["id_token"], nonce="n-server", access_token=body["access_token"])
    assert claims["sub"] == user["id"]
    assert claims["acr"] == "urn:kwsp:acr:pwd"
    assert claims["amr"] == ["pwd"]
    assert claims["exp"] - claims["iat"] == 3600


def test_oidcc_idtoken_signature_rs256_default_kid_in_jwks(browser, rp, user):
    token = tokens(browser)["id_token"]
    header = part(token, 0)
    assert header["alg"] == "RS256"
    assert header["kid"] in {k.kid for k in tenant_jwks(browser).keys if k.alg == "RS256"}


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_id_token_signed_with_registered_alg(browser, provider, user, alg):
    register_client(provider, id_token_alg=alg)
    body = tokens(browser, nonce="n-alg")
    validate_id_token(browser, body["id_token"], nonce="n-alg", alg=alg, access_token=body["access_token"])


def test_oidcc_idtoken_unsigned_refused_at_registration(provider):
    with pytest.raises(ClientError):
        register_client(provider, id_token_alg="none")


def test_oidcc_idtoken_unsigned_never_issued(browser, rp, user):
    token = tokens(browser)["id_token"]
    assert token.split(".")[2], "signature part present"
    assert part(token, 0)["alg"] != "none"


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(browser, rp, user):
    body = tokens(browser, nonce=None)
    claims = validate_id_token(browser, body["id_token"], nonce=None)
    assert "nonce" not in claims


def test_id_token_sid_matches_session_and_is_stable(browser, rp, user):
    first = validate_id_token(browser, tokens(browser, nonce="a")["id_token"], nonce="a")
    # a second authorization in the same session: same sid, same sub, same auth_time
    code = silent(browser, nonce="b")["code"]
    second = validate_id_token(browser, exchange(browser, code).json["id_token"], nonce="b")
    assert second["sid"] == first["sid"]
    assert second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"]


def test_oidcc_claims_essential_in_id_token(browser, rp, user):
    claims_param = json.dumps({"id_token": {"name": {"essential": True}}})
    body = tokens(browser, claims=claims_param, nonce="n-c")
    assert validate_id_token(browser, body["id_token"], nonce="n-c")["name"] == "Ali bin Abu"


def test_scope_claims_not_in_id_token_by_default(browser, rp, user):
    # Core 5.4: with an access token, scope claims are served by UserInfo
    claims = validate_id_token(browser, tokens(browser, nonce="n")["id_token"], nonce="n")
    assert "email" not in claims


def test_id_token_audience_is_only_the_client(browser, provider, rp, user):
    register_client(provider, client_id="other", secret="other-secret-0123456789")
    claims = validate_id_token(browser, tokens(browser, nonce="n")["id_token"], nonce="n")
    assert claims["aud"] == "portal"


def test_validator_rejects_foreign_signature(browser, rp, user):
    """The checks above could fail: a token signed by a key the tenant never published fails."""
    token = tokens(browser)["id_token"]
    header = part(token, 0)
    stranger = RSAKey.generate_key(2048, parameters={"kid": header["kid"]}, private=True)
    claims = part(token, 1)
    with pytest.raises(BadSignatureError):
        verify_signed(browser, forge(header, claims, stranger), "RS256")
    with pytest.raises(AssertionError):
        verify_signed(browser, unsigned(claims), "RS256")


def test_id_token_on_another_tenant_is_not_valid_there(browser, provider, rp, user):
    token = tokens(browser)["id_token"]
    with pytest.raises(AssertionError, match="kid not in JWKS"):
        verify_signed(browser, token, "RS256", tenant="perkeso")


def test_auth_time_is_sign_in_time(browser, rp, user):
    before = int(time.time())
    claims = validate_id_token(browser, tokens(browser, nonce="n")["id_token"], nonce="n")
    assert before - 1 <= claims["auth_time"] <= int(time.time())


def test_each_sign_in_gets_fresh_tokens(browser, rp, user):
    first = tokens(browser)
    code = silent(browser)["code"]
    second = exchange(browser, code).json
    assert first["access_token"] != second["access_token"]
    assert first["id_token"] != second["id_token"]
