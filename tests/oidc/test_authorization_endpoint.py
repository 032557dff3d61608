"""The authorization endpoint (RFC 6749 4.1.1, OIDC Core 3.1.2) against the OIDF Basic OP modules,
RFC 9700 2.1 (exact redirect URIs, no open redirector) and RFC 9207 (`iss` in every response)."""
import pytest

from tests.helpers import (
    PASSWORD, REDIRECT, auth_params, authorize, csrf, exchange, login, pkce, query, register_client, sign_in,
)
from tests.oidc.support import ISSUER, silent, unsigned, validate_id_token


def assert_error_page(response):
    """RFC 6749 4.1.2.1: a bad client or redirect URI is shown to the user, never redirected."""
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Location" not in response.headers


def assert_redirected_error(response, error, state=None):
    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    result = query(location)
    assert result["error"] == error
    assert result["iss"] == ISSUER
    if state:
        assert result["state"] == state
    assert "code" not in result
    return result


def test_oidcc_server_authorization_response_has_code_state_iss(browser, rp, user):
    result = login(browser, state="xyz-1")
    assert result["state"] == "xyz-1"
    assert result["iss"] == ISSUER
    assert len(result["code"]) >= 20


def test_oidcc_response_type_missing(browser, rp):
    response = authorize(browser, response_type=None, state="s1")
    result = assert_redirected_error(response, "unsupported_response_type", state="s1")
    assert result["error_description"] == "response_type is missing"


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_rfc9700_no_implicit_or_hybrid(browser, rp, response_type):
    response = authorize(browser, response_type=response_type)
    result = assert_redirected_error(response, "unsupported_response_type")
    assert result["error_description"] == "response_type=code is required"


def test_oidcc_ensure_registered_redirect_uri_unknown_uri_gets_error_page(browser, rp):
    response = authorize(browser, redirect_uri="https://attacker.example/cb")
    assert_error_page(response)
    html = response.get_data(as_text=True)
    # the page names the parameter for the portal's developers (the suite reviews a screenshot),
    # and does not repeat the URI an attacker chose
    assert "redirect_uri" in html and "attacker.example" not in html


@pytest.mark.parametrize("uri", [
    REDIRECT + "/", REDIRECT + "?x=1", "https://RP.example/cb", "https://rp.example/cb/../cb",
    "https://rp.example/c", "http://rp.example/cb", "https://rp.example:443/cb", REDIRECT + "#f",
])
def test_rfc9700_exact_redirect_uri_matching(browser, rp, uri):
    assert_error_page(authorize(browser, redirect_uri=uri))


def test_unknown_client_gets_error_page(browser, rp):
    assert_error_page(authorize(browser, client_id="nobody"))


def test_missing_client_id_gets_error_page(browser, rp):
    assert_error_page(authorize(browser, client_id=None))


def test_missing_redirect_uri_gets_error_page(browser, rp):
    assert_error_page(authorize(browser, redirect_uri=None))


def test_never_an_open_redirector_even_for_errors(browser, rp):
    # an error that would be redirected for a registered URI is shown as a page for another one
    assert_error_page(authorize(browser, redirect_uri="https://attacker.example/cb", response_type="token"))
    assert_error_page(authorize(browser, redirect_uri="https://attacker.example/cb", request="x"))


def test_other_clients_redirect_uri_refused(browser, provider, rp):
    register_client(provider, client_id="other", redirect_uris=["https://other.example/cb"])
    assert_error_page(authorize(browser, redirect_uri="https://other.example/cb"))


def test_oidcc_unsigned_request_object_request_not_supported(browser, rp):
    response = authorize(browser, request="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", state="s2")
    assert_redirected_error(response, "request_not_supported", state="s2")


@pytest.mark.parametrize("signed_in", [False, True])
def test_oidcc_ensure_request_object_with_redirect_uri(browser, rp, user, signed_in):
    # the outer redirect_uri is not registered; the (unsigned) request object carries the
    # registered one: an error page, never a redirect to either
    if signed_in:
        login(browser)
    request_object = unsigned({**auth_params(), "aud": ISSUER, "iss": "portal"})
    response = browser.get("/t/kwsp/authorize", query_string={
        "response_type": "code", "client_id": "portal", "scope": "openid",
        "redirect_uri": REDIRECT + "_invalid", "request": request_object})
    assert_error_page(response)


def test_oidcc_request_uri_unsigned_request_uri_not_supported(browser, rp):
    response = authorize(browser, request_uri="https://rp.example/request.jwt", state="s3")
    assert_redirected_error(response, "request_uri_not_supported", state="s3")


def test_rfc9207_iss_in_error_responses(browser, rp):
    for extra in ({"response_mode": "fragment"}, {"prompt": "none"}, {"request": "x"}, {"max_age": "-1"}):
        result = query(authorize(browser, **extra).headers["Location"])
        assert result["iss"] == ISSUER and result["error"], extra


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(browser, rp, user):
    result = login(browser, frobnicate="yes", x_custom="1")
    assert "code" in result


def test_oidcc_alternate_happy_flow_reordered_scopes(browser, rp, user):
    result = login(browser, scope="email profile openid")
    assert "code" in result


def test_oidcc_alternate_happy_flow_reordered_parameters(browser, rp, user):
    params = auth_params()
    reordered = dict(reversed(list(params.items())))
    final = sign_in(browser, browser.get("/t/kwsp/authorize", query_string=reordered))
    assert query(final.headers["Location"])["state"] == params["state"]


@pytest.mark.parametrize("display", ["page", "popup", "touch"])
def test_oidcc_display_page_and_popup_accepted(browser, rp, user, display):
    assert "code" in login(browser, display=display)


def test_oidcc_login_hint_accepted_and_prefilled(browser, rp, user):
    page = browser.get(authorize(browser, login_hint="ali").headers["Location"])
    assert page.status_code == 200
    assert 'value="ali"' in page.get_data(as_text=True)


def test_oidcc_ui_locales_accepted(browser, rp, user):
    response = authorize(browser, ui_locales="en ms")
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sign in" in page
    assert "code" in login(browser, ui_locales="ms-MY fr")


def test_oidcc_claims_locales_accepted(browser, rp, user):
    assert "code" in login(browser, claims_locales="ms en")


def test_oidcc_ensure_request_with_acr_values_succeeds(browser, rp, user):
    assert "code" in login(browser, acr_values="urn:kwsp:acr:pwd")


@pytest.mark.parametrize("order", [1, -1])
def test_oidcc_ensure_request_with_acr_values_succeeds_as_the_suite_sends_it(browser, rp, user, order):
    # the suite requests every value discovery lists, space-separated
    supported = browser.get("/t/kwsp/.well-known/openid-configuration").json["acr_values_supported"]
    assert len(supported) >= 2
    requested = supported[::order]
    result = login(browser, acr_values=" ".join(requested), nonce="n-acr")
    assert "code" in result and "error" not in result
    body = exchange(browser, result["code"]).json
    claims = validate_id_token(browser, body["id_token"], nonce="n-acr", access_token=body["access_token"])
    assert claims["acr"] in requested


def test_oidcc_ensure_post_request_succeeds_with_303(browser, rp, user):
    login(browser)  # a session, so the POST is answered at once
    response = browser.post("/t/kwsp/authorize", data=auth_params(state="post-1"))
    assert response.status_code == 303
    result = query(response.headers["Location"])
    assert result["state"] == "post-1" and "code" in result and result["iss"] == ISSUER


def test_post_request_without_session_goes_to_sign_in_with_303(browser, rp, user):
    response = browser.post("/t/kwsp/authorize", data=auth_params())
    assert response.status_code == 303  # on as a GET of our own (below), then to the sign-in
    final = sign_in(browser, browser.get(response.headers["Location"]))
    assert "code" in query(final.headers["Location"])


def test_a_post_from_another_site_sees_the_sign_in(app, browser, rp, user):
    # a browser withholds the SameSite=Lax session cookie from a cross-site POST, and sends it
    # on the top-level GET it is sent on to: the request goes on as that GET (Core 3.1.2.1)
    login(browser)
    assert browser.get_cookie("idp_session", path="/t/kwsp").same_site == "Lax"
    posted = app.test_client().post("/t/kwsp/authorize", data=auth_params(prompt="none", state="x-1", junk="y"))
    assert posted.status_code == 303 and posted.headers["Location"].startswith("/t/kwsp/authorize/posted/")
    result = query(browser.get(posted.headers["Location"]).headers["Location"])
    assert "code" in result and result["state"] == "x-1" and result["iss"] == ISSUER
    again = browser.get(posted.headers["Location"])  # used once
    assert again.status_code == 400 and "Location" not in again.headers
    assert browser.get("/t/kwsp/authorize/posted/" + "x" * 65).status_code == 400


def test_a_posted_request_is_kept_with_only_what_the_endpoint_reads(app, provider, rp):
    posted = app.test_client().post("/t/kwsp/authorize", data=auth_params(junk="y" * 30000))
    key = posted.headers["Location"].rsplit("/", 1)[1]
    kept = provider.store.get("posted_authorization", key)["datalist"]
    assert "junk" not in kept and kept["client_id"] == ["portal"]


@pytest.mark.parametrize("data", [{"state": "s" * 60000}, auth_params(client_id="nobody"),
                                  auth_params(redirect_uri="https://attacker.example/cb"),
                                  auth_params(state="s" * 5000), auth_params(claims="x" * 20000),
                                  {**auth_params(), "nonce": ["n"] + ["x" * 4000] * 14}])
def test_a_posted_request_the_endpoint_would_refuse_is_answered_at_once(app, provider, rp, data):
    # nothing is kept for a request of no client, of an unregistered redirect URI, or past a limit
    response = app.test_client().post("/t/kwsp/authorize", data=data)
    assert not response.headers.get("Location", "").startswith("/t/kwsp/authorize/posted/")
    assert response.status_code == 400 or query(response.headers["Location"])["error"] == "invalid_request"


def test_a_posted_request_too_large_in_all_is_answered_at_once(app, rp):
    # each parameter within its limit, but more than a real request holds: not kept for a GET
    names = ("state", "nonce", "login_hint", "ui_locales", "acr_values", "display", "claims_locales")
    response = app.test_client().post("/t/kwsp/authorize", data=auth_params(**{n: "x" * 4000 for n in names}))
    assert response.status_code == 303 and "/interaction/" in response.headers["Location"]


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint", "acr_values", "ui_locales", "id_token_hint"])
def test_an_overlong_parameter_is_invalid_request(browser, rp, name):
    response = authorize(browser, **{name: "a" * 9000})
    assert_redirected_error(response, "invalid_request", state="a" * 9000 if name == "state" else None)
    assert f"Parameter too long: {name}" in query(response.headers["Location"])["error_description"]


def test_unsupported_response_mode_is_invalid_request(browser, rp):
    assert_redirected_error(authorize(browser, response_mode="fragment"), "invalid_request")


def test_unknown_scope_ignored(browser, rp, user):
    # scopes the client is not registered for are dropped, not an error (OIDC Core 3.1.2.1)
    login(browser)
    assert "code" in silent(browser, scope="openid unknown-scope")


def test_code_issued_to_registered_redirect_with_existing_query(browser, provider, user):
    register_client(provider, client_id="q", redirect_uris=["https://rp.example/cb?tenant=1"])
    result = login(browser, client_id="q", redirect_uri="https://rp.example/cb?tenant=1")
    assert result["tenant"] == "1" and "code" in result


def test_unknown_tenant_is_404(browser, rp):
    response = browser.get("/t/nope/authorize", query_string=auth_params())
    assert response.status_code == 404
    assert "Location" not in response.headers


def native_app(provider, uri="http://127.0.0.1/callback"):
    register_client(provider, client_id="native", auth_method="none", redirect_uris=[uri],
                    grant_types=["authorization_code", "refresh_token"])


def native_params(redirect_uri):
    verifier, challenge = pkce()
    return {"client_id": "native", "redirect_uri": redirect_uri, "code_challenge": challenge,
            "code_challenge_method": "S256"}, verifier


@pytest.mark.parametrize("registered, requested", [
    ("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"),
    ("http://127.0.0.1:8080/callback", "http://127.0.0.1:9/callback"),
    ("http://[::1]/callback", "http://[::1]:60000/callback"),
])
def test_rfc8252_native_app_loopback_any_port(browser, provider, user, registered, requested):
    native_app(provider, registered)
    params, verifier = native_params(requested)
    result = login(browser, **params)
    response = browser.post("/t/kwsp/token", data={"grant_type": "authorization_code", "code": result["code"],
                                                   "client_id": "native", "redirect_uri": requested,
                                                   "code_verifier": verifier})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("requested", [
    "http://127.0.0.1:51234/other", "http://127.0.0.1:51234/callback?x=1", "https://127.0.0.1:51234/callback",
    "http://localhost:51234/callback", "http://127.0.0.1:80@attacker.example/callback",
    "http://attacker@127.0.0.1:5/callback", "http://127.0.0.1:x/callback", "http://[::1/callback",
    "http://127.0.0.2:51234/callback", "http://127.0.0.1:99999/callback", "http://127.0.0.1:65536/callback",
    "http://127.0.0.1:0/callback",
])
def test_rfc8252_native_app_only_the_port_may_vary(browser, provider, requested):
    native_app(provider)
    params, _ = native_params(requested)
    assert_error_page(authorize(browser, **params))


@pytest.mark.parametrize("prompt", [None, "none"])
def test_a_port_out_of_range_gets_the_error_page_when_signed_in(browser, provider, user, prompt):
    native_app(provider)
    login(browser, **native_params("http://127.0.0.1:51234/callback")[0])
    params, _ = native_params("http://127.0.0.1:99999/callback")
    assert_error_page(authorize(browser, **params, **({"prompt": prompt} if prompt else {})))


def test_rfc9700_loopback_port_fixed_for_confidential_clients(browser, provider):
    register_client(provider, redirect_uris=["http://127.0.0.1/callback"])
    assert_error_page(authorize(browser, redirect_uri="http://127.0.0.1:51234/callback"))


def test_token_endpoint_redirect_uri_must_match_the_requested_port(browser, provider, user):
    native_app(provider)
    params, verifier = native_params("http://127.0.0.1:51234/callback")
    result = login(browser, **params)
    response = browser.post("/t/kwsp/token", data={"grant_type": "authorization_code", "code": result["code"],
                                                   "client_id": "native", "code_verifier": verifier,
                                                   "redirect_uri": "http://127.0.0.1:51235/callback"})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_rfc9700_303_after_sign_in_post(browser, rp, user):
    start = authorize(browser)
    page = browser.get(start.headers["Location"])
    done = browser.post(start.headers["Location"], data={
        "csrf_token": csrf(page.get_data(as_text=True)), "username": "ali", "password": PASSWORD})
    assert done.status_code == 303


def test_the_registered_redirect_uris_own_query_is_kept_as_it_is(browser, provider, user):
    # RFC 6749 3.1.2: retained, empty values and bare names included
    uri = "https://rp.example/cb?tenant=&flag"
    register_client(provider, client_id="q", redirect_uris=[uri])
    assert authorize(browser, client_id="q", redirect_uri=uri, prompt="none").headers["Location"].startswith(uri + "&")


@pytest.mark.parametrize("empty", ["response_mode", "request", "request_uri", "prompt", "max_age", "state"])
def test_a_parameter_without_a_value_is_as_if_omitted(browser, rp, user, empty):
    # RFC 6749 3.1
    login(browser)
    params = {**auth_params(), empty: ""}
    result = query(browser.get("/t/kwsp/authorize", query_string=params).headers["Location"])
    assert "code" in result and "error" not in result
