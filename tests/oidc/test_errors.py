"""Bad input is answered with a protocol error, never a server error: malformed JSON, huge and
repeated parameters, wrong types, bad encodings, at every endpoint (OAuth 2.0 error responses,
RFC 6749 4.1.2.1 and 5.2)."""
import base64

import pytest

from idp.storage.models import Client as ClientRow
from tests.helpers import (PASSWORD, REDIRECT, auth_params, authorize, basic, csrf, exchange, interaction_uid, login,
                           query)
from tests.oidc.support import ISSUER, forge

HUGE = "x" * 20000


def assert_handled(response, *allowed):
    assert response.status_code < 500, (response.status_code, response.data[:300])
    if allowed:
        assert response.status_code in allowed, (response.status_code, response.data[:300])


def redirected_error(response):
    assert response.status_code == 302, response.data[:300]
    result = query(response.headers["Location"])
    assert response.headers["Location"].startswith(REDIRECT)
    assert result["iss"] == ISSUER
    return result["error"]


@pytest.mark.parametrize("claims", [
    "{", "[]", '"text"', "null", "42", '{"userinfo": []}', '{"id_token": "name"}', '{"userinfo": {"name": 1}',
    "{" * 5000 + "}" * 5000, '{"userinfo": null}', "[" * 1100 + "]" * 1100, '{"id_token": ' * 1100,
    "{" + " " * 20000 + "}",
])
def test_malformed_claims_parameter_is_invalid_request(browser, rp, user, claims):
    login(browser)
    assert redirected_error(authorize(browser, claims=claims)) == "invalid_request"


@pytest.mark.parametrize("acr", ['{"essential": true, "values": 5}', '{"essential": true, "values": "urn:x"}',
                                 '{"essential": true, "values": {"a": 1}}', '{"essential": true, "value": [1]}'])
def test_essential_acr_of_the_wrong_type_is_invalid_request(browser, rp, user, acr):
    # an essential acr the OP cannot read is not met (Core 5.5.1.1): no code at a level it never asked for
    login(browser)
    assert redirected_error(authorize(browser, claims='{"id_token": {"acr": %s}}' % acr)) == "invalid_request"


@pytest.mark.parametrize("details", ['[{"type": ["kwsp_withdrawal"]}]', '[{"type": {}}]', '[{"type": null}]',
                                     "[" * 1100 + "]" * 1100, "[" + " " * 20000 + "]"])
def test_malformed_authorization_details_are_refused(browser, rp, user, details):
    login(browser)
    assert redirected_error(authorize(browser, authorization_details=details)) == "invalid_authorization_details"


@pytest.mark.parametrize("param, value", [
    ("authorization_details", '[{"type": "kwsp_withdrawal", "\\ud800": 1, "amount": "1", "account": "1"}]'),
    ("claims", '{"userinfo": {"\\ud800": null}}'),
    ("claims", '{"id_token": {"acr": {"essential": true, "values": ["\\udc00"]}}}'),
])
def test_unpaired_surrogates_in_json_parameters_are_refused_before_a_code(browser, rp, user, param, value):
    # they parse, but no UTF-8 encoder takes them: a redirect or a token would fail later
    login(browser)
    assert redirected_error(authorize(browser, **{param: value})) in ("invalid_request", "invalid_authorization_details")


@pytest.mark.parametrize("max_age", ["\u00b2", "9" * 5000, "12345678901", "-1", "1.5"])
def test_max_age_that_is_no_plain_integer_is_invalid_request(browser, rp, user, max_age):
    login(browser)
    assert redirected_error(authorize(browser, max_age=max_age.encode().decode("unicode_escape"))) == "invalid_request"


def test_malformed_claims_before_sign_in_is_invalid_request(browser, rp):
    assert redirected_error(authorize(browser, claims="{nope")) == "invalid_request"


@pytest.mark.parametrize("extra", [
    {"state": HUGE}, {"nonce": HUGE}, {"scope": "openid " * 3000}, {"login_hint": HUGE},
    {"ui_locales": HUGE}, {"acr_values": HUGE}, {"prompt": "bogus"}, {"display": "\x00"},
    {"max_age": "9" * 400}, {"id_token_hint": HUGE}, {"id_token_hint": "a.b.c"}, {"id_token_hint": "...."},
    {"code_challenge": HUGE, "code_challenge_method": "S256"}, {"response_mode": HUGE},
    {"redirect_uri": REDIRECT + "\r\nSet-Cookie: x=1"}, {"redirect_uri": "javascript:alert(1)"},
    {"client_id": HUGE}, {"client_id": "\x00"}, {"redirect_uri": 'https://rp.example/"'},
    {"redirect_uri": "https://rp.example/\u00fc"}, {"response_type": 'co"de'}, {"response_type": "\u00fc"},
])
def test_authorize_odd_parameters_never_500(browser, rp, user, extra):
    assert_handled(authorize(browser, **extra), 200, 302, 303, 400)


def test_authorize_repeated_parameters(browser, rp, user):
    params = list(auth_params().items()) + [("client_id", "portal"), ("state", "second")]
    assert_handled(browser.get("/t/kwsp/authorize", query_string=params), 302, 400)
    params = list(auth_params().items()) + [("redirect_uri", "https://attacker.example/cb")]
    response = browser.get("/t/kwsp/authorize", query_string=params)
    assert_handled(response)
    assert not response.headers.get("Location", "").startswith("https://attacker.example")


@pytest.mark.parametrize("name, values", [("prompt", ["none", "login"]), ("nonce", ["a", "b"]), ("max_age", ["0", "100"]),
                                           ("response_mode", ["query", "form_post"]), ("ui_locales", ["en", "ms"]),
                                           ("scope", ["openid", "openid email"])])
def test_authorize_repeated_oidc_parameter_is_invalid_request(browser, rp, user, name, values):
    # RFC 6749 3.1 (Authlib itself checks only response_type, client_id, redirect_uri, scope, state)
    login(browser)
    params = [(k, v) for k, v in auth_params(state="st-1").items()] + [(name, value) for value in values]
    response = browser.get("/t/kwsp/authorize", query_string=params)
    assert redirected_error(response) == "invalid_request"
    assert query(response.headers["Location"])["state"] == "st-1"
    assert "code" not in query(response.headers["Location"])


def test_authorize_repeated_unrecognised_parameter_is_ignored(browser, rp, user):
    # RFC 6749 3.1: unrecognised parameters are ignored, also when a client repeats one (RFC 8707 resource)
    login(browser)
    params = list(auth_params(state="st-2").items()) + [("resource", "https://a.example"), ("resource", "https://b.example")]
    result = query(browser.get("/t/kwsp/authorize", query_string=params).headers["Location"])
    assert "code" in result and result["state"] == "st-2"


def test_authorize_bad_percent_encoding(browser, rp, user):
    assert_handled(browser.get("/t/kwsp/authorize?client_id=%ff%fe&response_type=code&redirect_uri=%zz"), 400)
    assert_handled(browser.get("/t/kwsp/authorize?" + "&".join(f"p{i}=v" for i in range(2000))))


def test_unregistered_redirect_uri_with_barred_characters_gets_error_page(browser, rp):
    # Authlib refuses to put such a URI in an error description; that must not become a 500
    for uri in ('https://rp.example/cb"', "https://rp.example/c\u00fc"):
        response = authorize(browser, redirect_uri=uri)
        assert response.status_code == 400 and "Location" not in response.headers


def test_token_post_body_too_large(browser, rp):
    response = browser.post("/t/kwsp/token", data={"grant_type": "client_credentials", "pad": "x" * 70000},
                            headers=basic())
    assert_handled(response, 413)
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("path", ["/t/kwsp/authorize", "/t/kwsp/logout"])
def test_page_post_body_too_large(browser, rp, path):
    response = browser.post(path, data={**auth_params(), "pad": "x" * 70000})
    assert_handled(response, 413)
    assert "terlalu panjang" in response.get_data(as_text=True)  # says what happened, not "invalid request"


def test_authorize_post_wrong_content_type(browser, rp, user):
    response = browser.post("/t/kwsp/authorize", data='{"client_id": "portal"}', content_type="application/json")
    assert_handled(response, 400)


@pytest.mark.parametrize("data", [
    {}, {"grant_type": ""}, {"grant_type": "authorization_code"}, {"grant_type": "authorization_code", "code": ""},
    {"grant_type": "authorization_code", "code": HUGE, "redirect_uri": REDIRECT},
    {"grant_type": "authorization_code", "code": "\x00", "redirect_uri": "\x00"},
    {"grant_type": "refresh_token"}, {"grant_type": "refresh_token", "refresh_token": HUGE},
    {"grant_type": "refresh_token", "refresh_token": "x", "scope": HUGE},
    {"grant_type": HUGE},
])
def test_token_endpoint_bad_forms_never_500(browser, rp, data):
    response = browser.post("/t/kwsp/token", data=data, headers=basic())
    assert_handled(response, 400, 401)
    assert "error" in response.json


def test_token_endpoint_repeated_parameters(browser, rp, user):
    code = login(browser)["code"]
    body = f"grant_type=authorization_code&code={code}&code=other&redirect_uri={REDIRECT}"
    response = browser.post("/t/kwsp/token", data=body, headers=basic(),
                            content_type="application/x-www-form-urlencoded")
    assert_handled(response, 400)
    assert response.json["error"] == "invalid_request"


def test_token_endpoint_unknown_scope_is_invalid_scope(browser, rp):
    response = browser.post("/t/kwsp/token", data={"grant_type": "client_credentials", "scope": HUGE}, headers=basic())
    assert_handled(response, 400)
    assert response.json["error"] == "invalid_scope" and "access_token" not in response.json


def test_token_endpoint_json_body(browser, rp):
    response = browser.post("/t/kwsp/token", json={"grant_type": "client_credentials"}, headers=basic())
    assert_handled(response, 400, 401)


@pytest.mark.parametrize("where", ["query", "multipart"])
def test_token_endpoint_reads_only_a_form_urlencoded_body(browser, rp, user, where):
    # RFC 6749 3.2, 4.1.3: POSTed in the body, form-urlencoded; a query string ends up in access logs
    code = login(browser)["code"]
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    if where == "query":
        response = browser.post("/t/kwsp/token", query_string=params, headers=basic())
    else:
        response = browser.post("/t/kwsp/token", data=params, headers=basic(), content_type="multipart/form-data")
    assert_handled(response, 400)
    assert response.json["error"] == "invalid_request" and "access_token" not in response.json
    assert exchange(browser, code).status_code == 200  # the refused request spent nothing


def test_token_endpoint_non_utf8_body(browser, rp):
    response = browser.post("/t/kwsp/token", data=b"grant_type=\xff\xfe&code=\xc3", headers=basic(),
                            content_type="application/x-www-form-urlencoded")
    assert_handled(response, 400, 401)


@pytest.mark.parametrize("path", ["/t/kwsp/token", "/t/kwsp/token/introspect", "/t/kwsp/token/revoke"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_token_endpoints_answer_other_methods_in_json(browser, rp, path, method):
    response = browser.open(path, method=method)
    assert_handled(response, 405)
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "bearer x y z", "Basic " + base64.b64encode(b"a:b").decode(), "Bearer \x00",
    "Bearer " + HUGE, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer e30.W10.AA", "Bearer ....",
])
def test_userinfo_bad_authorization_headers(browser, rp, header):
    response = browser.get("/t/kwsp/userinfo", headers={"Authorization": header})
    assert_handled(response, 401)


@pytest.mark.parametrize("endpoint", ["/t/kwsp/token/introspect", "/t/kwsp/token/revoke"])
@pytest.mark.parametrize("data", [{}, {"token": HUGE}, {"token": "a.b.c"}, {"token": "x", "token_type_hint": HUGE},
                                  {"token": "e30.e30.e30"}])
def test_introspection_and_revocation_bad_input(browser, rp, endpoint, data):
    assert_handled(browser.post(endpoint, data=data, headers=basic()), 200, 400, 401)


@pytest.mark.parametrize("params", [
    {"id_token_hint": "a.b.c"}, {"id_token_hint": HUGE}, {"id_token_hint": "e30.e30.e30"},
    {"id_token_hint": "eyJhbGciOiJSUzI1NiJ9.WzFd.AA"}, {"post_logout_redirect_uri": HUGE},
    {"client_id": "ghost", "post_logout_redirect_uri": "https://rp.example/bye"}, {"client_id": HUGE},
    {"state": HUGE, "ui_locales": HUGE},
])
def test_logout_bad_input(browser, rp, params):
    response = browser.get("/t/kwsp/logout", query_string=params)
    assert_handled(response, 200, 400)
    assert "Location" not in response.headers


def test_logout_hint_with_list_audience(browser, provider, rp, user):
    key = provider.keys.get("kwsp").signing_key("RS256")
    hint = forge({"alg": "RS256", "kid": key.kid}, {"iss": ISSUER, "sub": "x", "aud": ["portal", "other"]}, key)
    response = browser.get("/t/kwsp/logout", query_string={"id_token_hint": hint,
                                                           "post_logout_redirect_uri": "https://rp.example/bye"})
    assert_handled(response, 200, 400)
    assert "Location" not in response.headers


def test_id_token_hint_with_odd_claims_at_authorize(browser, provider, rp, user):
    key = provider.keys.get("kwsp").signing_key("RS256")
    login(browser)
    for claims in ({"iss": ISSUER}, {"iss": ISSUER, "sub": ["a"]}, {"iss": ISSUER, "sub": 5}):
        hint = forge({"alg": "RS256", "kid": key.kid}, claims, key)
        assert_handled(authorize(browser, prompt="none", id_token_hint=hint), 302)


@pytest.mark.parametrize("path", [
    "/t/kwsp/interaction/" + "u" * 500, "/t/kwsp/authorize/resume/" + "u" * 500, "/t/" + "x" * 500 + "/jwks",
    "/t/kwsp/.well-known/openid-configuration/extra",
])
def test_odd_paths(browser, path):
    assert_handled(browser.get(path), 400, 404)
    assert_handled(browser.post(path, data={"csrf_token": "x"}), 400, 404, 405)


def test_interaction_post_garbage(browser, rp):
    location = authorize(browser).headers["Location"]
    for data in ({}, {"csrf_token": HUGE}, {"csrf_token": "x", "username": HUGE, "password": HUGE}):
        assert_handled(browser.post(location, data=data), 200, 400)


def test_resume_twice_is_an_expired_page(browser, rp, user):
    start = authorize(browser)
    page = browser.get(start.headers["Location"])
    done = browser.post(start.headers["Location"], data={
        "csrf_token": csrf(page.get_data(as_text=True)), "username": "ali", "password": PASSWORD})
    resume = done.headers["Location"]
    assert "code" in query(browser.get(resume).headers["Location"])
    again = browser.get(resume)
    assert again.status_code == 400 and "Location" not in again.headers


def test_resume_of_a_finished_self_service_flow_is_an_expired_page(browser, rp, user):
    # a forgot-user-ID flow, done, held by this browser: there is no authorization to resume
    url = browser.get("/t/kwsp/account/forgot_username").headers["Location"]
    page = browser.get(url)
    done = browser.post(url, data={"csrf_token": csrf(page.get_data(as_text=True)), "national_id": "900202-10-1234",
                                   "phone": "0171234567"})
    assert done.status_code == 200
    resumed = browser.get(f"/t/kwsp/authorize/resume/{interaction_uid(url)}")
    assert resumed.status_code == 400 and "Location" not in resumed.headers


def test_resume_whose_client_is_gone_is_an_error_page(browser, provider, rp, user):
    start = authorize(browser)
    page = browser.get(start.headers["Location"])
    done = browser.post(start.headers["Location"], data={
        "csrf_token": csrf(page.get_data(as_text=True)), "username": "ali", "password": PASSWORD})
    with provider.database.session() as s:  # deregistered while its user signed in
        s.delete(s.get(ClientRow, ("kwsp", "portal")))
    resumed = browser.get(done.headers["Location"])
    assert resumed.status_code == 400 and "Location" not in resumed.headers
    assert "idp_interaction=;" in resumed.headers.get("Set-Cookie", "")  # the binding is cleared


def test_plain_http_to_an_https_issuer_is_a_clear_400_not_a_500(settings):
    from idp import create_app
    from tests.helpers import register_client
    app = create_app({**settings, "IDP_PUBLIC_URL": "https://sso.example"})
    register_client(app.extensions["idp"])
    client = app.test_client()
    # a TLS proxy that does not pass X-Forwarded-Proto: Flask sees http://sso.example
    response = client.post("/t/kwsp/token", data={"grant_type": "client_credentials"}, headers=basic(),
                           base_url="http://sso.example")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_non_ascii_csrf_tokens_and_cookies_are_refused_not_500(browser, rp, user):
    url = authorize(browser).headers["Location"]
    posted = browser.post(url, data={"csrf_token": "\u00e9", "username": "ali", "password": PASSWORD})
    assert posted.status_code == 400
    browser.set_cookie("idp_interaction", "\u00e9", path="/t/kwsp")
    assert browser.get(url).status_code == 400
    assert browser.get(f"/t/kwsp/authorize/resume/{interaction_uid(url)}").status_code == 400
    assert browser.get("/t/kwsp/account/forgot_username?from=%C3%A9").status_code == 302


def nul_requests(browser):
    """Requests that carry a NUL where an id, a code or a form field goes (PostgreSQL refuses it
    in text; every one must be a clean 400)."""
    page = authorize(browser)
    interaction = page.headers["Location"]
    form = csrf(browser.get(interaction).get_data(as_text=True))
    return [
        ("authorize", lambda: browser.get("/t/kwsp/authorize?client_id=a%00")),
        ("logout", lambda: browser.get("/t/kwsp/logout?client_id=%00")),
        ("interaction", lambda: browser.get("/t/kwsp/interaction/%00")),
        ("resume", lambda: browser.get("/t/kwsp/authorize/resume/%00")),
        ("login", lambda: browser.post(interaction, data={"csrf_token": form, "username": "a\x00b",
                                                           "password": "x"})),
        ("token", lambda: browser.post("/t/kwsp/token", data={"grant_type": "client_credentials",
                                                               "client_id": "a\x00", "client_secret": "s"})),
        ("basic", lambda: browser.post("/t/kwsp/token", data={"grant_type": "client_credentials"},
                                       headers={"Authorization": "Basic " + base64.b64encode(b"a\x00:b").decode()})),
        ("json", lambda: browser.post("/t/kwsp/token", data='{"client_id": "a\\u0000"}',
                                      content_type="application/json")),
    ]


def test_a_nul_anywhere_is_a_clean_400(browser, rp):
    for name, send in nul_requests(browser):
        response = send()
        assert response.status_code in (400, 401), (name, response.status_code)
        if "/token" in response.request.path:
            assert response.json["error"] in ("invalid_request", "invalid_client"), name
    browser.set_cookie("idp_session", "a\x00b", path="/t/kwsp")
    assert authorize(browser).status_code == 400


@pytest.mark.parametrize("method, path, data", [
    ("POST", "/t/kwsp/account/forgot_password", {}),  # 405: a page has no POST
    ("POST", "/t/kwsp/account/reset/some-token", {"x": "y" * 70000}),  # 413
    ("POST", "/t/kwsp/account/reset/some-token", {"csrf_token": "a\x00"}),  # 400
])
def test_errors_on_pages_are_pages_not_json(browser, rp, method, path, data):
    response = browser.open(path, method=method, data=data)
    assert response.status_code in (400, 405, 413) and response.mimetype == "text/html"


@pytest.mark.parametrize("path", ["/t/kwsp/authorize", "/t/kwsp/interaction/abc", "/t/kwsp/logout"])
def test_raw_bytes_in_a_query_string_read_as_a_malformed_value(browser, rp, path):
    # Werkzeug's server and gunicorn pass them on as they came (PEP 3333: latin-1 characters)
    for raw in ("client_id=portal\xff\xfe&redirect_uri=https://rp.example/cb", "ui_locales=\xc3\x28"):
        response = browser.get(path, environ_overrides={"QUERY_STRING": raw})
        assert response.status_code in (200, 400) and response.mimetype == "text/html", (raw, response.status_code)
    token = browser.get("/t/kwsp/userinfo", environ_overrides={"QUERY_STRING": "access_token=\xff"})
    assert token.status_code == 400 and token.mimetype == "application/json"  # no tokens in URLs


def test_error_description_holds_only_the_characters_rfc_6749_allows(browser, rp, user):
    # the description quotes a field name the client sent; 4.1.2.1 allows %x20-21 / %x23-5B / %x5D-7E
    login(browser)
    details = '[{"type": "kwsp_withdrawal", "amount": "5", "account": "1", "\u00e9\\"\\\\<x>\\n": 1}]'
    response = authorize(browser, acr_values="urn:kwsp:acr:tac", authorization_details=details)
    result = query(response.headers["Location"])
    assert result["error"] == "invalid_authorization_details" and "<x>" in result["error_description"]
    assert all(" " <= c <= "~" and c not in '"\\' for c in result["error_description"])


def test_a_fault_of_ours_at_a_protocol_endpoint_is_server_error(app, browser, provider, rp, monkeypatch):
    # e.g. the key store failing mid-request: the client did nothing wrong (RFC 6749 4.1.2.1)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    monkeypatch.setattr(provider.keys, "get", lambda tenant_id: 1 / 0)
    response = browser.post("/t/kwsp/token", data={"grant_type": "client_credentials", "scope": "api"},
                            headers=basic())
    assert response.status_code == 500 and response.json["error"] == "server_error"
