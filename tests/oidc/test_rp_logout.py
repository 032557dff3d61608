"""OIDF RP-Initiated Logout plan (RP-Initiated Logout 1.0): a valid `id_token_hint` plus a
registered `post_logout_redirect_uri` redirects back with `state`; anything less never redirects;
a request without proof from the RP needs the user's confirmation (ASVS 10.6.2)."""
import re
import secrets
import time
from html import unescape

from joserfc import jws
from joserfc.jwk import RSAKey

from tests.helpers import authorize, basic, csrf, exchange, login, make_user, register_client
from tests.oidc.support import ISSUER, forge, tokens, unsigned, validate_id_token

LOGOUT = "/t/kwsp/logout"
BYE = "https://rp.example/bye"


def signed_in_with_hint(browser):
    """Sign in through the portal; its ID token (the hint) and the token's validated claims."""
    body = tokens(browser, nonce="n")
    return body["id_token"], validate_id_token(browser, body["id_token"], nonce="n")


def logged_in(browser):
    response = authorize(browser, prompt="none")
    assert response.status_code == 302
    return "code=" in response.headers["Location"]


def assert_no_redirect(response):
    assert response.status_code in (200, 400)
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_end_session_endpoint_advertised(browser):
    meta = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert meta["end_session_endpoint"] == f"{ISSUER}/logout"


def test_oidcc_rp_initiated_logout(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE,
                                                 "state": "bye-1"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BYE}?state=bye-1"
    assert not logged_in(browser)  # then prompt=none fails with login_required


def test_oidcc_rp_initiated_logout_no_state(browser, rp, user):
    # over GET: back to exactly the registered URI, nothing added to its query
    hint, _ = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    assert response.status_code == 302
    assert response.headers["Location"] == BYE
    assert not logged_in(browser)


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "state": "bye-2"})
    assert_no_redirect(response)
    assert response.status_code == 200
    assert not logged_in(browser)  # the hint was proof enough: signed out at once, no redirect


def test_oidcc_rp_initiated_logout_only_state(browser, rp, user):
    signed_in_with_hint(browser)
    page = browser.get(LOGOUT, query_string={"state": "only-state"})
    assert_no_redirect(page)
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    assert logged_in(browser)  # nothing from the RP: the user is asked first
    done = browser.post(LOGOUT, data={"csrf_token": csrf(page.get_data(as_text=True)), "state": "only-state"})
    assert_no_redirect(done)
    assert done.status_code == 200
    assert not logged_in(browser)


def test_oidcc_rp_initiated_logout_128_character_state_unchanged(browser, rp, user):
    # the logout modules send a 128-character state, at the authorization request and the logout
    state = secrets.token_urlsafe(96)
    assert len(state) == 128
    result = login(browser, state=state, nonce="n")
    assert result["state"] == state
    hint = exchange(browser, result["code"]).json["id_token"]
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE,
                                                 "state": state})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BYE}?state={state}"
    assert not logged_in(browser)


def test_rp_initiated_logout_post(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    response = browser.post(LOGOUT, data={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    assert response.status_code == 303 and response.headers["Location"] == BYE
    assert not logged_in(browser)


def test_a_post_reads_its_body_not_its_query(browser, rp, user):
    # RP-Initiated Logout 2: a POST is form-serialised; its query's hint and URI are not read
    hint, _ = signed_in_with_hint(browser)
    response = browser.post(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    assert_no_redirect(response)
    assert 'name="post_logout_redirect_uri"' not in response.get_data(as_text=True)  # nor carried along
    assert logged_in(browser)  # asked, not signed out


def test_logout_clears_session_cookie(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("idp_session="))
    assert "Expires=Thu, 01 Jan 1970" in cookie or "Max-Age=0" in cookie


def assert_unregistered_refused(browser, response):
    """The module wants an error page saying the post_logout_redirect_uri is not registered (or
    the user's confirmation): both, and the user, whose portal has signed them out, can still
    sign out here, never to that URI."""
    assert_no_redirect(response)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "post_logout_redirect_uri is not registered" in html
    assert logged_in(browser)  # nothing ended unasked
    assert 'name="post_logout_redirect_uri"' not in html
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))
    action = re.search(r'<form method="post" action="([^"]*)">', html).group(1)
    assert action == LOGOUT  # as a browser posts it: not to the page's URL, whose query holds the refused URI
    done = browser.post(action, data={k: unescape(v) for k, v in fields.items()})
    assert_no_redirect(done)
    assert done.status_code == 200 and not logged_in(browser)


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    assert_unregistered_refused(browser, browser.get(LOGOUT, query_string={
        "id_token_hint": hint, "post_logout_redirect_uri": "https://attacker.example/bye", "state": "s"}))


def test_oidcc_rp_initiated_logout_modified_query_post_logout_redirect_uri(browser, rp, user):
    hint, _ = signed_in_with_hint(browser)
    assert_unregistered_refused(browser, browser.get(LOGOUT, query_string={
        "id_token_hint": hint, "post_logout_redirect_uri": BYE + "?x=1"}))


def test_post_logout_redirect_uri_without_a_client_to_check_it_against_is_refused(browser, rp, user):
    signed_in_with_hint(browser)
    assert_unregistered_refused(browser, browser.get(LOGOUT, query_string={"post_logout_redirect_uri": BYE}))


def test_an_unregistered_post_logout_redirect_uri_without_a_session_is_an_error_page(browser, rp, user):
    response = browser.get(LOGOUT, query_string={"post_logout_redirect_uri": "https://attacker.example/bye"})
    assert response.status_code == 400 and 'name="csrf_token"' not in response.get_data(as_text=True)


def test_bad_hint_page_says_what_was_wrong(browser, rp, user):
    _, claims = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": unsigned(claims)})
    assert response.status_code == 400
    assert "id_token_hint is not a valid ID token" in response.get_data(as_text=True)


def test_a_hint_that_does_not_verify_still_lets_the_user_sign_out_on_confirming(browser, rp, user):
    # a hint signed by a key since retired, say: no redirect, but not a dead end either
    _, claims = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": unsigned(claims), "post_logout_redirect_uri": BYE,
                                                 "client_id": "portal", "state": "s", "ui_locales": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "id_token_hint is not a valid ID token" in html
    assert logged_in(browser) and 'name="ui_locales" value="en"' in html
    assert not any(f'name="{name}"' in html for name in ("id_token_hint", "post_logout_redirect_uri", "client_id"))
    done = browser.post(LOGOUT, data={"csrf_token": csrf(html), "ui_locales": "en"})
    assert_no_redirect(done)
    assert done.status_code == 200 and not logged_in(browser)


def test_oidcc_rp_initiated_logout_bad_id_token_hint_alg_none(browser, rp, user):
    _, claims = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": unsigned(claims), "post_logout_redirect_uri": BYE})
    assert_no_redirect(response)
    assert logged_in(browser)  # a forged hint logs nobody out


def test_oidcc_rp_initiated_logout_bad_id_token_hint_foreign_key(browser, rp, user):
    hint, claims = signed_in_with_hint(browser)
    kid = jws.extract_compact(hint.encode()).headers()["kid"]
    stranger = RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)
    forged = forge({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, stranger)
    assert_no_redirect(browser.get(LOGOUT, query_string={"id_token_hint": forged, "post_logout_redirect_uri": BYE}))
    assert logged_in(browser)


def test_logout_hint_from_another_tenant_refused(browser, provider, rp, user):
    hint, claims = signed_in_with_hint(browser)
    key = provider.keys.get("perkeso").signing_key("RS256")
    other = forge({"alg": "RS256", "kid": key.kid}, {**claims, "iss": "http://127.0.0.1:8000/t/perkeso"}, key)
    assert_no_redirect(browser.get(LOGOUT, query_string={"id_token_hint": other, "post_logout_redirect_uri": BYE}))
    assert logged_in(browser)


def test_oidcc_rp_initiated_logout_no_id_token_hint(browser, rp, user):
    signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"post_logout_redirect_uri": BYE, "client_id": "portal",
                                                 "state": "s"})
    assert_no_redirect(response)
    assert logged_in(browser)  # without a hint the user is asked first
    # confirming signs out, still without a redirect
    done = browser.post(LOGOUT, data={"csrf_token": csrf(response.get_data(as_text=True)),
                                      "post_logout_redirect_uri": BYE, "client_id": "portal"})
    assert_no_redirect(done)
    assert not logged_in(browser)


def test_oidcc_rp_initiated_logout_no_params(browser, rp, user):
    signed_in_with_hint(browser)
    page = browser.get(LOGOUT)
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    done = browser.post(LOGOUT, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert_no_redirect(done)
    assert done.status_code == 200
    assert not logged_in(browser)


def test_logout_without_session_shows_page(browser, rp):
    response = browser.get(LOGOUT)
    assert response.status_code == 200 and "Location" not in response.headers


def test_forced_logout_needs_valid_csrf(browser, rp, user):
    signed_in_with_hint(browser)
    assert_no_redirect(browser.post(LOGOUT, data={"csrf_token": "0" * 64}))
    assert logged_in(browser)


def test_logout_client_id_must_match_hint_audience(browser, provider, rp, user):
    register_client(provider, client_id="other", secret="other-secret-0123456789",
                    post_logout_redirect_uris=["https://other.example/bye"])
    hint, _ = signed_in_with_hint(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": hint, "client_id": "other",
                                                 "post_logout_redirect_uri": "https://other.example/bye"})
    assert_no_redirect(response)


def test_logout_hint_expired_still_accepted(browser, provider, rp, user):
    # RP-Initiated Logout 2: the OP SHOULD accept an expired ID token as a hint
    _, claims = signed_in_with_hint(browser)
    key = provider.keys.get("kwsp").signing_key("RS256")
    past = int(time.time()) - 7200
    stale = forge({"alg": "RS256", "kid": key.kid}, {**claims, "iat": past, "exp": past + 3600}, key)
    response = browser.get(LOGOUT, query_string={"id_token_hint": stale, "post_logout_redirect_uri": BYE})
    assert response.status_code == 302 and response.headers["Location"] == BYE


def test_logout_with_es256_hint(browser, provider, user):
    register_client(provider, id_token_alg="ES256")
    body = tokens(browser)
    response = browser.get(LOGOUT, query_string={"id_token_hint": body["id_token"], "post_logout_redirect_uri": BYE})
    assert response.status_code == 302
    assert not logged_in(browser)


def test_logout_post_logout_redirect_uri_of_another_client(browser, provider, rp, user):
    register_client(provider, client_id="other", secret="other-secret-0123456789",
                    post_logout_redirect_uris=["https://other.example/bye"])
    hint, _ = signed_in_with_hint(browser)
    assert_unregistered_refused(browser, browser.get(LOGOUT, query_string={
        "id_token_hint": hint, "post_logout_redirect_uri": "https://other.example/bye"}))


def test_someone_elses_id_token_does_not_sign_this_browser_out_unasked(app, provider, rp, user):
    # a forged link carrying the attacker's own (valid) ID token: the victim is asked, not signed out
    make_user(provider, username="mallory", email="m@example.com", phone="0199999999")
    attacker, victim = app.test_client(), app.test_client()
    attackers_hint = tokens(attacker, nonce="n", username="mallory")["id_token"]
    signed_in_with_hint(victim)
    response = victim.get(LOGOUT, query_string={"id_token_hint": attackers_hint, "post_logout_redirect_uri": BYE})
    assert response.status_code == 200 and b"csrf_token" in response.data  # the confirmation page
    assert logged_in(victim)


def test_a_hint_from_an_earlier_session_of_the_same_user_asks_too(browser, rp, user):
    old_hint, _ = signed_in_with_hint(browser)
    browser.delete_cookie("idp_session", path="/t/kwsp")
    signed_in_with_hint(browser)  # a new session: another sid
    response = browser.get(LOGOUT, query_string={"id_token_hint": old_hint, "post_logout_redirect_uri": BYE})
    assert response.status_code == 200 and b"csrf_token" in response.data
    assert logged_in(browser)


def test_an_access_token_is_not_an_id_token_hint(browser, rp, user):
    # the same keys sign both: an access token (at+jwt) reaches apps an ID token never does
    access_token = tokens(browser)["access_token"]
    response = browser.get(LOGOUT, query_string={"id_token_hint": access_token, "post_logout_redirect_uri": BYE})
    assert_no_redirect(response)
    assert logged_in(browser)


def test_a_logout_the_store_broke_off_is_finished_by_trying_again(browser, provider, rp, user, monkeypatch):
    # the store fails between ending the sid and deleting the session: the session is still
    # there for a retry to end (and log), and what is bound to the sid has stopped already
    import redis
    body = tokens(browser, nonce="n")
    hint = body["id_token"]
    delete = provider.store.delete
    calls = []

    def fail_second(kind, *ids):
        calls.append(kind)
        if len(calls) == 2:
            raise redis.exceptions.ConnectionError("the store went away")
        return delete(kind, *ids)
    monkeypatch.setattr(provider.store, "delete", fail_second)
    assert browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE}).status_code == 503
    monkeypatch.undo()
    refreshed = browser.post("/t/kwsp/token", headers=basic(), data={"grant_type": "refresh_token",
                                                                    "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 400  # its sid has ended
    again = browser.get(LOGOUT, query_string={"id_token_hint": hint, "post_logout_redirect_uri": BYE})
    assert again.status_code == 302 and not logged_in(browser)
    assert provider.audit.events("kwsp", event="logout")


def test_confirming_with_a_hint_from_an_earlier_session_goes_back_to_the_portal(browser, rp, user):
    # the hint is valid and the URI registered: once the user confirms, the portal gets its state
    old_hint, _ = signed_in_with_hint(browser)
    browser.delete_cookie("idp_session", path="/t/kwsp")
    signed_in_with_hint(browser)
    args = {"id_token_hint": old_hint, "post_logout_redirect_uri": BYE, "state": "s1"}
    page = browser.get(LOGOUT, query_string=args).get_data(as_text=True)
    assert 'name="id_token_hint"' in page
    done = browser.post(LOGOUT, data={"csrf_token": csrf(page), **args})
    assert done.headers["Location"] == f"{BYE}?state=s1"
    assert not logged_in(browser)
