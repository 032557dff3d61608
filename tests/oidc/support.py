"""What a strict relying party checks, shared by the OIDC tests: ID tokens verified against the
tenant's published JWKS (OIDC Core 3.1.3.7), and small journeys built on tests.helpers."""
import base64
import hashlib
import json
import time

from joserfc import jws, jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from keys.jose import registry
from tests.helpers import SECRET, authorize, exchange, login, query

ISSUER = "http://127.0.0.1:8000/t/kwsp"


def tenant_jwks(browser, tenant="kwsp") -> KeySet:
    response = browser.get(f"/t/{tenant}/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json)


def half_hash(value: str, alg: str) -> str:
    """at_hash (OIDC Core 3.1.3.6), computed here rather than by the code under test."""
    digest = hashlib.sha512 if alg == "EdDSA" else hashlib.sha256  # Ed25519 hashes with SHA-512
    raw = digest(value.encode()).digest()
    return base64.urlsafe_b64encode(raw[:len(raw) // 2]).rstrip(b"=").decode()


def verify_signed(browser, token: str, alg: str, tenant="kwsp") -> jwt.Token:
    """Signature by a key the tenant publishes, with exactly `alg` (so `none` or a swapped alg fails)."""
    header = jws.extract_compact(token.encode()).headers()
    assert header["alg"] == alg
    keys = tenant_jwks(browser, tenant)
    assert header["kid"] in {k.kid for k in keys.keys}, "kid not in JWKS"
    return jwt.decode(token, keys, algorithms=[alg], registry=registry([alg]))


def validate_id_token(browser, token, client_id="portal", nonce=None, alg="RS256", access_token=None,
                      tenant="kwsp") -> dict:
    claims = dict(verify_signed(browser, token, alg, tenant).claims)
    now = time.time()
    assert claims["iss"] == f"http://127.0.0.1:8000/t/{tenant}"
    assert claims["aud"] == client_id or client_id in claims["aud"]
    assert now - 60 <= claims["iat"] <= now + 5
    assert claims["exp"] > now
    assert isinstance(claims["sub"], str) and claims["sub"]
    assert claims["auth_time"] <= now + 5
    assert claims["acr"] and claims["amr"] and claims["sid"]
    if nonce is None:
        assert "nonce" not in claims
    else:
        assert claims["nonce"] == nonce
    if access_token is not None:
        assert claims["at_hash"] == half_hash(access_token, alg)
    return claims


def forge(header: dict, claims: dict, key) -> str:
    """Sign anything with any key (forged tokens for negative tests)."""
    return jwt.encode(header, claims, key, registry=JWSRegistry(algorithms=[header["alg"]]))


def unsigned(claims: dict) -> str:
    """An `alg: none` JWT."""
    header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
    return f"{b64url(header)}.{b64url(json.dumps(claims).encode())}."


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tokens(browser, client_id="portal", secret=SECRET, **params) -> dict:
    """Sign in through the authorization request and redeem the code: the token response."""
    result = login(browser, client_id=client_id, **params)
    response = exchange(browser, result["code"], client_id=client_id, secret=secret)
    assert response.status_code == 200, response.json
    return response.json


def silent(browser, **params) -> dict:
    """An authorization request answered without interaction (an SSO session exists)."""
    response = authorize(browser, **params)
    assert response.status_code == 302, response.data[:300]
    assert response.headers["Location"].startswith("https://rp.example/"), response.headers["Location"]
    return query(response.headers["Location"])


class ShiftedClock:
    """A module's `time`, moved forward: monkeypatch it in to make time pass for that module."""

    def __init__(self, seconds):
        self.seconds = seconds

    def time(self):
        return time.time() + self.seconds

    def __getattr__(self, name):  # monotonic, sleep ...: as they are
        return getattr(time, name)


def id_token_key_read_fails(monkeypatch, provider):
    """The store failing as the ID token's signing key is read (a worker's key cache due): the
    access token signs first (the first read), the ID token second."""
    from sqlalchemy.exc import OperationalError
    real, calls = provider.keys.get, []

    def second_read_fails(tenant_id):
        calls.append(tenant_id)
        if len(calls) == 2:
            raise OperationalError("SELECT", {}, Exception("the database went away"))
        return real(tenant_id)
    monkeypatch.setattr(provider.keys, "get", second_read_fails)
