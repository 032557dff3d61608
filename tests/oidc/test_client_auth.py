"""Client authentication at the token endpoint (RFC 6749 2.3, OIDC Core 9): client_secret_basic,
client_secret_post (`oidcc-server-client-secret-post`), private_key_jwt (RFC 7523 2.2, each
assertion used once) and `none` for public clients with PKCE."""
import base64
import time
import uuid

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from idp.clients import ClientError
from idp.storage.models import Client as ClientRow
from keys.jose import registry
from tests.helpers import REDIRECT, SECRET, basic, exchange, login, pkce, register_client
from tests.oidc.support import forge, silent, unsigned, validate_id_token

TOKEN = "/t/kwsp/token"
TOKEN_URL = "http://127.0.0.1:8000/t/kwsp/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def client_key():
    return RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "alg": "RS256", "use": "sig"}, private=True)


@pytest.fixture
def jwt_client(provider, client_key):
    return register_client(provider, client_id="signed", auth_method="private_key_jwt",
                           jwks={"keys": [client_key.as_dict(private=False)]})


def assertion(key, client_id="signed", aud=TOKEN_URL, alg="RS256", **overrides):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    claims.update(overrides)
    return forge({"alg": alg, "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


def redeem_with_assertion(browser, code, signed, client_id="signed"):
    return browser.post(TOKEN, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed})


def assert_invalid_client(response):
    # RFC 6749 5.2: 401 with its challenge, however the client tried (a 400 for some failures
    # and a 401 for others would tell which client ids exist)
    assert response.status_code == 401, response.json
    # RFC 7617 2: a Basic challenge names its realm
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="http://127.0.0.1:8000/t/kwsp", ')
    assert response.json["error"] == "invalid_client"
    assert "access_token" not in response.json


# --- client_secret_basic (the default)

def test_client_secret_basic(browser, rp, user):
    response = exchange(browser, login(browser)["code"])
    assert response.status_code == 200


def test_client_secret_basic_wrong_secret(browser, rp, user):
    code = login(browser)["code"]
    response = exchange(browser, code, secret="not-the-secret-0123")
    assert_invalid_client(response)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    # says nothing of the methods the endpoint takes (Authlib's own text lists them, "none" too)
    assert "none" not in response.headers["WWW-Authenticate"] and "none" not in response.json["error_description"]


def test_client_secret_basic_form_urlencoded_credentials(browser, provider, user):
    # RFC 6749 2.3.1: id and secret are form-urlencoded before base64
    register_client(provider, client_id="a:b", secret="s%cret+with:colon0123")
    code = login(browser, client_id="a:b")["code"]
    raw = base64.b64encode(b"a%3Ab:s%25cret%2Bwith%3Acolon0123").decode()
    response = browser.post(TOKEN, headers={"Authorization": f"Basic {raw}"}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.json


def test_client_secret_basic_plus_is_a_space(browser, provider, user):
    # RFC 6749 Appendix B: form-urlencoding writes a space as "+"
    register_client(provider, client_id="spacey", secret="correct horse battery", grant_types=["client_credentials"],
                    scope="api")
    raw = base64.b64encode(b"spacey:correct+horse+battery").decode()
    response = browser.post(TOKEN, headers={"Authorization": f"Basic {raw}"},
                            data={"grant_type": "client_credentials", "scope": "api"})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64", "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), "Basic ", "Basic", "Bearer abc",
    "Basic " + base64.b64encode(b"portal:" + b"x" * 5000).decode(), "Basic " + base64.b64encode(b":").decode(),
])
def test_bad_basic_header_encodings_are_invalid_client(browser, rp, user, header):
    code = login(browser)["code"]
    response = browser.post(TOKEN, headers={"Authorization": header}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert_invalid_client(response)


def test_basic_client_may_not_switch_to_post(browser, rp, user):
    code = login(browser)["code"]
    response = browser.post(TOKEN, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                         "client_id": "portal", "client_secret": SECRET})
    assert_invalid_client(response)


def test_basic_client_may_not_skip_authentication(browser, rp, user):
    code = login(browser)["code"]
    response = browser.post(TOKEN, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                                         "client_id": "portal"})
    assert_invalid_client(response)


@pytest.mark.parametrize(("endpoint", "audited"), [("token", "token"), ("token/introspect", "introspection"),
                                                 ("token/revoke", "revocation")])
@pytest.mark.parametrize("second", ["post", "assertion"])
def test_two_authentication_methods_in_one_request_are_refused(browser, provider, client_key, jwt_client, endpoint,
                                                               audited, second):
    # RFC 6749 2.3: one method per request (5.2: invalid_request), even when each would pass
    register_client(provider, client_id="poster", auth_method="client_secret_post")
    body = ({"client_id": "poster", "client_secret": SECRET} if second == "post" else
            {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion(client_key)})
    data = {"grant_type": "client_credentials", "token": "x", **body}
    response = browser.post(f"/t/kwsp/{endpoint}", headers=basic(), data=data)
    assert response.status_code == 400 and response.json["error"] == "invalid_request", response.json
    event = provider.audit.events("kwsp", event="client.authentication")[-1]
    assert event.outcome == "failure" and event.detail["endpoint"] == audited


def test_a_public_client_may_send_its_id_in_basic_with_no_secret(browser, provider, user):
    # some libraries send client_id both ways: "spa:" in Basic is no second method
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code"])
    verifier, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    empty = "Basic " + base64.b64encode(b"spa:").decode()
    response = browser.post(TOKEN, headers={"Authorization": empty}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "spa",
        "code_verifier": verifier})
    assert response.status_code == 200, response.json


def test_a_body_client_id_other_than_the_authenticated_client_is_refused(browser, provider, rp):
    register_client(provider, client_id="other", grant_types=["client_credentials"], scope="api")
    response = browser.post(TOKEN, headers=basic(), data={"grant_type": "client_credentials", "client_id": "other"})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_wrong_basic_secret_does_not_fall_through_to_a_public_client(browser, provider, rp, user):
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code"])
    verifier, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "spa",
            "code_verifier": verifier}
    another = browser.post(TOKEN, headers=basic(secret="not-the-secret-0123"), data=body)  # portal's id
    assert another.status_code == 400 and another.json["error"] == "invalid_request"
    assert_invalid_client(browser.post(TOKEN, headers=basic("spa", "a-secret-it-has-not"), data=body))
    assert browser.post(TOKEN, data=body).status_code == 200  # the code was not spent by either


# --- client_secret_post

def test_oidcc_server_client_secret_post(browser, provider, user):
    register_client(provider, auth_method="client_secret_post")
    result = login(browser, nonce="n-post")
    response = browser.post(TOKEN, data={"grant_type": "authorization_code", "code": result["code"],
                                         "redirect_uri": REDIRECT, "client_id": "portal", "client_secret": SECRET})
    assert response.status_code == 200, response.json
    validate_id_token(browser, response.json["id_token"], nonce="n-post", access_token=response.json["access_token"])


def test_client_secret_post_client_may_not_use_basic(browser, provider, user):
    register_client(provider, auth_method="client_secret_post")
    assert_invalid_client(exchange(browser, login(browser)["code"]))


@pytest.mark.parametrize("endpoint", ["token", "token/revoke", "token/introspect"])
@pytest.mark.parametrize("how", ["basic", "post", "none"])
def test_unknown_client_answered_as_a_wrong_secret(browser, provider, endpoint, how):
    """Which client ids exist is not for anyone to learn: an unknown id gets the answer a known
    one with a wrong secret gets, at every endpoint that authenticates clients."""
    register_client(provider, client_id="poster", auth_method="client_secret_post")
    register_client(provider)  # portal: client_secret_basic
    discovered = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert any(discovered[k].endswith("/" + endpoint) for k in discovered if k.endswith("_endpoint"))

    def attempt(client_id):
        data, headers = {"grant_type": "client_credentials", "token": "x"}, {}
        if how == "basic":
            headers = basic(client_id, "not-the-secret-0123456789")
        elif how == "post":
            data.update(client_id=client_id, client_secret="not-the-secret-0123456789")
        else:
            data.update(client_id=client_id)
        response = browser.post(f"/t/kwsp/{endpoint}", data=data, headers=headers)
        assert_invalid_client(response)
        return response.json, response.headers["WWW-Authenticate"]

    known = "portal" if how == "basic" else "poster"
    assert attempt(known) == attempt("no-such-client")


# --- private_key_jwt

def test_private_key_jwt(browser, jwt_client, client_key, user):
    result = login(browser, client_id="signed", nonce="n-jwt")
    response = redeem_with_assertion(browser, result["code"], assertion(client_key))
    assert response.status_code == 200, response.json
    validate_id_token(browser, response.json["id_token"], client_id="signed", nonce="n-jwt")


def test_private_key_jwt_issuer_as_audience(browser, jwt_client, client_key, user):
    code = login(browser, client_id="signed")["code"]
    response = redeem_with_assertion(browser, code, assertion(client_key, aud="http://127.0.0.1:8000/t/kwsp"))
    assert response.status_code == 200, response.json


def test_private_key_jwt_both_own_audiences_as_a_list(browser, jwt_client, client_key, user):
    # as openid-client sends it: the issuer and the token endpoint, both this server's
    code = login(browser, client_id="signed")["code"]
    signed = assertion(client_key, aud=["http://127.0.0.1:8000/t/kwsp", TOKEN_URL])
    assert redeem_with_assertion(browser, code, signed).status_code == 200


def test_private_key_jwt_jti_replay_refused(browser, jwt_client, client_key, user):
    signed = assertion(client_key)
    assert redeem_with_assertion(browser, login(browser, client_id="signed")["code"], signed).status_code == 200
    assert_invalid_client(redeem_with_assertion(browser, silent(browser, client_id="signed")["code"], signed))


def test_private_key_jwt_ec_key(browser, provider, user):
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
    register_client(provider, client_id="signed", auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    code = login(browser, client_id="signed")["code"]
    assert redeem_with_assertion(browser, code, assertion(key, alg="ES256")).status_code == 200


@pytest.mark.parametrize("alg, make_key", [
    ("PS256", lambda: RSAKey.generate_key(2048, parameters={"kid": "ps-1"}, private=True)),
    ("EdDSA", lambda: OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"}, private=True)),
])
def test_private_key_jwt_every_advertised_algorithm(browser, provider, user, alg, make_key):
    # token_endpoint_auth_signing_alg_values_supported is a promise: each one works
    advertised = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert alg in advertised["token_endpoint_auth_signing_alg_values_supported"]
    key = make_key()
    register_client(provider, client_id="signed", auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    code = login(browser, client_id="signed")["code"]
    now = int(time.time())
    claims = {"iss": "signed", "sub": "signed", "aud": TOKEN_URL, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    signed = jwt.encode({"alg": alg, "kid": key.kid}, claims, key, registry=registry([alg]))  # no EdDSA warning
    response = redeem_with_assertion(browser, code, signed)
    assert response.status_code == 200, response.json


def test_private_key_jwt_symmetric_algorithm_refused(browser, provider, jwt_client, user):
    # a client with an oct key could otherwise sign with HS256, a shared secret in disguise:
    # refused at registration, and at the token endpoint for a row written before that check
    key = OctKey.generate_key(256, parameters={"kid": "hs-1"}, private=True)
    with pytest.raises(ClientError, match="public RSA, EC or OKP"):
        register_client(provider, client_id="other", auth_method="private_key_jwt",
                        jwks={"keys": [key.as_dict(private=False)]})
    with provider.database.session() as s:
        row = s.get(ClientRow, ("kwsp", "signed"))
        row.client_metadata = {**row.client_metadata, "jwks": {"keys": [key.as_dict(private=False)]}}
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, assertion(key, alg="HS256")))


@pytest.mark.parametrize("jwks", [5, "str", {"keys": []}, {"keys": [{"kty": "zzz"}]}])
def test_unusable_registered_keys_are_invalid_client(browser, provider, jwt_client, client_key, user, jwks):
    with provider.database.session() as s:
        row = s.get(ClientRow, ("kwsp", "signed"))
        row.client_metadata = {**row.client_metadata, "jwks": jwks}
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, assertion(client_key)))


@pytest.mark.parametrize("overrides", [
    {"aud": "https://elsewhere.example/token"},
    # an assertion also meant for another server is not for this one (draft-ietf-oauth-rfc7523bis)
    {"aud": [TOKEN_URL, "https://elsewhere.example/token"]},
    {"aud": []},
    {"aud": {"x": 1}}, {"aud": [{"x": 1}]}, {"aud": [["a"]]}, {"aud": 5},  # not strings: refused, not a 500
    {"exp": int(time.time()) - 600},
    {"iss": "someone-else"},
    {"jti": None},
    {"exp": None},
])
def test_private_key_jwt_bad_claims_refused(browser, jwt_client, client_key, user, overrides):
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, assertion(client_key, **overrides)))


def test_private_key_jwt_foreign_key_refused(browser, jwt_client, user):
    stranger = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1"}, private=True)
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, assertion(stranger)))


def test_private_key_jwt_alg_none_refused(browser, jwt_client, user):
    now = int(time.time())
    token = unsigned({"iss": "signed", "sub": "signed", "aud": TOKEN_URL, "exp": now + 60, "jti": "j1"})
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, token))


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "e30.e30.", "W10.W10.AA", "eyJhbGciOiJSUzI1NiJ9.WzFd.AA"])
def test_private_key_jwt_garbage_assertion(browser, jwt_client, user, garbage):
    response = redeem_with_assertion(browser, "some-code", garbage)
    assert response.status_code in (400, 401)
    assert response.json["error"] in ("invalid_client", "invalid_request")


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("endpoint", [TOKEN, "/t/kwsp/token/introspect", "/t/kwsp/token/revoke"])
@pytest.mark.parametrize("payload", [
    '{"iss": "portal", "sub": "portal"}',  # names a client that registered no keys
    "[" * 1100 + "]" * 1100,  # nested too deep for the parser
    '{"sub": "signed", "x": "%s"}' % ("x" * 10000),  # far too long
    '{"iss": "\\ud800", "sub": "\\ud800"}',  # no client id can be that
])
def test_assertions_that_cannot_be_checked_are_invalid_client(browser, rp, jwt_client, endpoint, payload):
    signed = ".".join([_b64('{"alg": "RS256"}'), _b64(payload), "c2ln"])
    response = browser.post(endpoint, data={"grant_type": "client_credentials", "token": "t",
                                            "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed})
    assert_invalid_client(response)


def _signed_with_escaped_jti(key, jti_json: str) -> str:
    # the payload as written, so that a JSON escape such as \ud800 (a lone surrogate) reaches us
    now = int(time.time())
    payload = ('{"iss": "signed", "sub": "signed", "aud": "%s", "iat": %d, "exp": %d, "jti": "%s"}'
               % (TOKEN_URL, now, now + 60, jti_json)).encode()
    return jws.serialize_compact({"alg": "RS256", "kid": key.kid}, payload, key)


def test_a_long_or_odd_jti_is_used_once(browser, jwt_client, client_key, user):
    login(browser, client_id="signed")
    for signed in (assertion(client_key, jti="j" * 500), _signed_with_escaped_jti(client_key, "\\ud800")):
        assert redeem_with_assertion(browser, silent(browser, client_id="signed")["code"], signed).status_code == 200
        assert_invalid_client(redeem_with_assertion(browser, silent(browser, client_id="signed")["code"], signed))


def test_an_assertion_is_remembered_as_long_as_it_is_valid(browser, provider, jwt_client, client_key, user,
                                                           monkeypatch):
    signed = assertion(client_key, exp=int(time.time()) + 3000)
    code = login(browser, client_id="signed")["code"]
    assert redeem_with_assertion(browser, code, signed).status_code == 200
    ttls = []
    incr = provider.store.incr
    monkeypatch.setattr(provider.store, "incr", lambda key, ttl: ttls.append(ttl) or incr(key, ttl))
    assert_invalid_client(redeem_with_assertion(browser, silent(browser, client_id="signed")["code"], signed))
    assert ttls and ttls[-1] > 3000  # not the ten minutes after which it could be replayed


@pytest.mark.parametrize("exp", [4000, 7 * 24 * 3600, 10 ** 400])
def test_an_assertion_valid_too_long_is_refused(browser, jwt_client, client_key, user, exp):
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(redeem_with_assertion(browser, code, assertion(client_key, exp=int(time.time()) + exp)))


def test_private_key_jwt_client_may_not_use_a_secret(browser, jwt_client, user):
    code = login(browser, client_id="signed")["code"]
    assert_invalid_client(exchange(browser, code, client_id="signed", secret=SECRET))


# --- none (public clients, PKCE required)

def test_none_for_public_client_with_pkce(browser, provider, user):
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code", "refresh_token"])
    verifier, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    response = browser.post(TOKEN, data={"grant_type": "authorization_code", "code": code, "client_id": "spa",
                                         "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert response.status_code == 200, response.json


def test_none_refused_for_confidential_client(browser, rp, user):
    verifier, challenge = pkce()
    code = login(browser, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = browser.post(TOKEN, data={"grant_type": "authorization_code", "code": code, "client_id": "portal",
                                         "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert_invalid_client(response)


def test_unknown_client_at_token_endpoint(browser, rp):
    assert_invalid_client(browser.post(TOKEN, headers=basic("ghost", "ghost-secret-0123456789"),
                                       data={"grant_type": "client_credentials"}))


def test_unknown_client_ids_are_not_cached(browser, provider, rp):
    # the client id is anyone's choice: remembering each miss would grow a worker's memory without bound
    for n in range(20):
        assert_invalid_client(browser.post(TOKEN, headers=basic(f"ghost-{n}", "ghost-secret-0123456789"),
                                           data={"grant_type": "client_credentials"}))
    assert not any(key[1].startswith("ghost-") for key in provider.clients._cache)
    register_client(provider, client_id="ghost-0", secret="ghost-secret-0123456789")  # and no stale miss
    response = browser.post(TOKEN, headers=basic("ghost-0", "ghost-secret-0123456789"),
                            data={"grant_type": "client_credentials", "scope": "api"})
    assert response.status_code == 200, response.json
    assert ("kwsp", "ghost-0") in provider.clients._cache  # hits are still kept
