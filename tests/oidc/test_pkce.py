"""PKCE (RFC 7636) as RFC 9700 2.1.1 wants it: S256 only, required for public clients, enforced
whenever a challenge was sent, and a verifier without a challenge rejected."""
import pytest

from tests.helpers import REDIRECT, authorize, exchange, login, pkce, query, register_client
from tests.oidc.support import ISSUER, validate_id_token


@pytest.fixture
def spa(provider):
    return register_client(provider, client_id="spa", auth_method="none",
                           grant_types=["authorization_code", "refresh_token"])


def public_exchange(browser, code, verifier=None, client_id="spa"):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": client_id}
    if verifier:
        data["code_verifier"] = verifier
    return browser.post("/t/kwsp/token", data=data)


def redirected_error(response):
    assert response.status_code == 302
    result = query(response.headers["Location"])
    assert result["iss"] == ISSUER and "code" not in result
    return result["error"]


def test_oidcc_ensure_request_with_valid_pkce_succeeds(browser, rp, user):
    verifier, challenge = pkce()
    code = login(browser, code_challenge=challenge, code_challenge_method="S256", nonce="n-p")["code"]
    response = exchange(browser, code, code_verifier=verifier)
    assert response.status_code == 200, response.json
    validate_id_token(browser, response.json["id_token"], nonce="n-p")


def test_public_client_with_s256_succeeds_without_secret(browser, spa, user):
    verifier, challenge = pkce()
    result = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256", nonce="n-s")
    response = public_exchange(browser, result["code"], verifier)
    assert response.status_code == 200, response.json
    validate_id_token(browser, response.json["id_token"], client_id="spa", nonce="n-s")


def test_public_client_without_challenge_refused(browser, spa):
    assert redirected_error(authorize(browser, client_id="spa")) == "invalid_request"


def test_plain_method_rejected(browser, rp):
    verifier, _ = pkce()
    response = authorize(browser, code_challenge=verifier, code_challenge_method="plain")
    assert redirected_error(response) == "invalid_request"


def test_absent_method_means_plain_and_is_rejected(browser, spa):
    _, challenge = pkce()
    assert redirected_error(authorize(browser, client_id="spa", code_challenge=challenge)) == "invalid_request"


def test_malformed_challenge_rejected(browser, rp):
    response = authorize(browser, code_challenge="short", code_challenge_method="S256")
    assert redirected_error(response) == "invalid_request"


def test_verifier_without_challenge_rejected(browser, rp, user):
    verifier, _ = pkce()
    response = exchange(browser, login(browser)["code"], code_verifier=verifier)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_challenge_without_verifier_rejected(browser, rp, user):
    _, challenge = pkce()
    code = login(browser, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = exchange(browser, code)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_public_client_without_verifier_rejected(browser, spa, user):
    _, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    response = public_exchange(browser, code)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_wrong_verifier_is_invalid_grant(browser, spa, user):
    _, challenge = pkce()
    other, _ = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    response = public_exchange(browser, code, other)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_public_client_may_not_use_client_credentials(browser, spa):
    response = browser.post("/t/kwsp/token", data={"grant_type": "client_credentials", "client_id": "spa"})
    assert response.status_code in (400, 401)
    assert "access_token" not in response.json


def test_public_client_registration_refuses_client_credentials(provider):
    from idp.clients import ClientError
    with pytest.raises(ClientError):
        register_client(provider, client_id="bad", auth_method="none",
                        grant_types=["authorization_code", "client_credentials"])


def test_a_confidential_client_registered_to_require_pkce_gets_no_code_without_it(browser, provider, user):
    register_client(provider, client_id="strict", require_pkce=True)
    assert redirected_error(authorize(browser, client_id="strict")) == "invalid_request"
    verifier, challenge = pkce()
    result = login(browser, client_id="strict", code_challenge=challenge, code_challenge_method="S256")
    assert exchange(browser, result["code"], client_id="strict", code_verifier=verifier).status_code == 200


def test_a_confidential_client_may_leave_pkce_out_unless_registered_so(browser, rp, user):
    # the OIDF Basic plan's relying parties send none; RFC 9700 2.1.1 lets a confidential client choose
    assert "code" in login(browser)
