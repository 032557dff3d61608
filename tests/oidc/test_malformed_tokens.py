"""Tokens from outside with a malformed JWS header: a `crit` that is not an array of names (RFC
7515 4.1.11) made joserfc raise TypeError, a 500 at five endpoints. Each answers as for any
token it cannot read."""
import base64
import json

import pytest

from tests.helpers import authorize, basic, query, register_client


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


CRIT = [1, True, None, [1], [[]]]


def unreadable(crit, **header):
    return f'{b64({"alg": "RS256", "typ": "at+jwt", "crit": crit, **header})}.{b64({"sub": "x"})}.c2ln'


@pytest.mark.parametrize("crit", CRIT)
def test_as_an_access_token(browser, rp, crit):
    response = browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {unreadable(crit)}"})
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    response = browser.post("/t/kwsp/token/introspect", headers=basic(), data={"token": unreadable(crit)})
    assert response.status_code == 200 and response.json == {"active": False}


@pytest.mark.parametrize("crit", CRIT)
def test_as_an_id_token_hint(browser, rp, crit):
    assert browser.get("/t/kwsp/logout", query_string={"id_token_hint": unreadable(crit)}).status_code == 400
    result = query(authorize(browser, id_token_hint=unreadable(crit)).headers["Location"])
    assert result["error"] == "invalid_request"


@pytest.mark.parametrize("crit", CRIT)
def test_as_a_client_assertion(browser, provider, crit):
    from joserfc.jwk import RSAKey
    key = RSAKey.generate_key(2048)
    register_client(provider, client_id="signed", auth_method="private_key_jwt",
                    jwks={"keys": [key.as_dict(private=False)]})
    assertion = f'{b64({"alg": "RS256", "crit": crit})}.{b64({"sub": "signed", "iss": "signed"})}.c2ln'
    response = browser.post("/t/kwsp/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
