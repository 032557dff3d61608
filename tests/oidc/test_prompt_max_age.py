"""`prompt`, `max_age` and `id_token_hint` (OIDC Core 3.1.2.1, 3.1.2.6) as the interaction policy
applies them: `oidcc-prompt-login`, `oidcc-prompt-none-*`, `oidcc-max-age-*`, `oidcc-id-token-hint`."""

import json

import pytest

from idp import sessions
from idp.views import authorize as authorize_view
from tests.helpers import authorize, exchange, login, make_user, query, sign_in
from tests.oidc.support import ISSUER, ShiftedClock, silent, tokens, validate_id_token


def later(monkeypatch, seconds):
    """Move the session and the interaction policy's clocks forward (not tokens')."""
    monkeypatch.setattr(sessions, "time", ShiftedClock(seconds))
    monkeypatch.setattr(authorize_view, "time", ShiftedClock(seconds))


def id_claims(browser, code, nonce):
    return validate_id_token(browser, exchange(browser, code).json["id_token"], nonce=nonce)


def redirected_error(response):
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://rp.example/cb?")
    result = query(location)
    assert result["iss"] == ISSUER and "code" not in result
    return result


def assert_sign_in_page(browser, response):
    assert response.status_code == 302
    assert "/interaction/" in response.headers["Location"]
    page = browser.get(response.headers["Location"])
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)


def test_oidcc_prompt_login(browser, rp, user, monkeypatch):
    first = id_claims(browser, login(browser, nonce="a")["code"], "a")
    later(monkeypatch, 5)
    response = authorize(browser, prompt="login", nonce="b")
    assert_sign_in_page(browser, response)
    second = id_claims(browser, query(sign_in(browser, response).headers["Location"])["code"], "b")
    assert second["auth_time"] > first["auth_time"]
    assert second["sub"] == first["sub"]


def test_prompt_login_is_not_satisfied_by_the_session(browser, rp, user):
    login(browser)
    assert_sign_in_page(browser, authorize(browser, prompt="login"))


def test_oidcc_prompt_none_not_logged_in(browser, rp, user):
    result = redirected_error(authorize(browser, prompt="none", state="pn-1"))
    assert result["error"] == "login_required"
    assert result["state"] == "pn-1"


def test_oidcc_prompt_none_logged_in(browser, rp, user):
    first = id_claims(browser, login(browser, nonce="a")["code"], "a")
    result = silent(browser, prompt="none", nonce="b")
    assert result["iss"] == ISSUER
    assert id_claims(browser, result["code"], "b")["sub"] == first["sub"]


def test_prompt_none_cannot_be_combined(browser, rp, user):
    login(browser)
    assert redirected_error(authorize(browser, prompt="none login"))["error"] == "invalid_request"


def test_oidcc_max_age_1(browser, rp, user, monkeypatch):
    first = id_claims(browser, login(browser, nonce="a")["code"], "a")
    later(monkeypatch, 2)
    response = authorize(browser, max_age="1", nonce="b")
    assert_sign_in_page(browser, response)
    second = id_claims(browser, query(sign_in(browser, response).headers["Location"])["code"], "b")
    assert second["auth_time"] >= first["auth_time"] + 2


def test_oidcc_max_age_10000(browser, rp, user, monkeypatch):
    first = id_claims(browser, login(browser, nonce="a")["code"], "a")
    later(monkeypatch, 2)
    second = id_claims(browser, silent(browser, max_age="10000", nonce="b")["code"], "b")
    assert second["auth_time"] == first["auth_time"]


def test_max_age_0_is_prompt_login_even_in_the_same_second(browser, rp, user):
    login(browser)
    response = authorize(browser, max_age="0", nonce="b")  # no clock change: same second
    assert_sign_in_page(browser, response)
    final = sign_in(browser, response)  # and signing in ends it: no loop back to the sign-in page
    assert "code" in query(final.headers["Location"])


def test_max_age_0_with_prompt_none_is_login_required(browser, rp, user):
    login(browser)
    assert redirected_error(authorize(browser, prompt="none", max_age="0"))["error"] == "login_required"


def test_max_age_exceeded_with_prompt_none_is_login_required(browser, rp, user, monkeypatch):
    login(browser)
    later(monkeypatch, 2)
    assert redirected_error(authorize(browser, prompt="none", max_age="1"))["error"] == "login_required"


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", " 1"])
def test_malformed_max_age_is_invalid_request(browser, rp, user, max_age):
    assert redirected_error(authorize(browser, max_age=max_age))["error"] == "invalid_request"


def test_oidcc_id_token_hint(browser, rp, user):
    body = tokens(browser, nonce="a")
    first = validate_id_token(browser, body["id_token"], nonce="a")
    result = silent(browser, prompt="none", id_token_hint=body["id_token"], nonce="b")
    assert id_claims(browser, result["code"], "b")["sub"] == first["sub"]


def test_id_token_hint_for_another_user_with_prompt_none(browser, provider, rp, user):
    make_user(provider, username="siti", email="siti@example.com")
    hint = tokens(browser)["id_token"]  # ali's
    fresh = browser.application.test_client()
    final = sign_in(fresh, authorize(fresh), username="siti")
    assert "code" in query(final.headers["Location"])
    result = redirected_error(authorize(fresh, prompt="none", id_token_hint=hint))
    assert result["error"] == "login_required"


def test_forged_id_token_hint_is_invalid_request(browser, rp, user):
    login(browser)
    forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."
    assert redirected_error(authorize(browser, prompt="none", id_token_hint=forged))["error"] == "invalid_request"


def test_just_signed_in_user_is_not_asked_again(browser, rp, user):
    # prompt=login is satisfied by the sign-in it caused: no loop
    final = sign_in(browser, authorize(browser, prompt="login", max_age="0"))
    assert "code" in query(final.headers["Location"])


def test_access_token_as_id_token_hint_is_invalid_request(browser, rp, user):
    access_token = tokens(browser)["access_token"]
    result = redirected_error(authorize(browser, prompt="none", id_token_hint=access_token))
    assert result["error"] == "invalid_request"


def test_prompt_select_account_lets_the_user_choose_another_account(browser, provider, rp, user, monkeypatch):
    make_user(provider, username="siti", email="siti@example.com")
    first = id_claims(browser, login(browser, nonce="a")["code"], "a")  # ali's session
    later(monkeypatch, 2)
    response = authorize(browser, prompt="select_account", nonce="b")
    assert_sign_in_page(browser, response)  # the session alone does not answer it
    second = id_claims(browser, query(sign_in(browser, response, username="siti").headers["Location"])["code"], "b")
    assert second["sub"] != first["sub"] and second["auth_time"] > first["auth_time"]
    # the chosen account is now the session's: a silent request gets siti
    assert id_claims(browser, silent(browser, prompt="none", nonce="c")["code"], "c")["sub"] == second["sub"]


def test_prompt_select_account_with_none_is_invalid_request(browser, rp, user):
    login(browser)
    assert redirected_error(authorize(browser, prompt="none select_account"))["error"] == "invalid_request"


def test_id_token_hint_for_another_user_than_the_one_who_signs_in_fails(browser, provider, rp, user):
    # the sign-in it asks for is done by siti, not ali whom the hint names: login_required, no loop
    make_user(provider, username="siti", email="siti@example.com")
    hint = tokens(browser)["id_token"]  # ali's
    fresh = browser.application.test_client()
    final = sign_in(fresh, authorize(fresh, id_token_hint=hint, state="h-1"), username="siti")
    result = redirected_error(final)
    assert result["error"] == "login_required" and result["state"] == "h-1"
    # and the hint's own user goes through
    final = sign_in(fresh, authorize(fresh, id_token_hint=hint), username="ali")
    assert "code" in query(final.headers["Location"])


def test_a_sub_asked_for_in_the_claims_parameter_binds_the_response(browser, provider, rp, user):
    # Core 5.5.1: a positive response only for the user that sub value names, never for another
    ali = validate_id_token(browser, tokens(browser, nonce="a")["id_token"], nonce="a")["sub"]
    other = json.dumps({"id_token": {"sub": {"value": "somebody-else"}}})
    assert redirected_error(authorize(browser, prompt="none", claims=other))["error"] == "login_required"
    assert authorize(browser, claims=other).headers["Location"].startswith("/t/kwsp/interaction/")  # sign in
    mine = json.dumps({"id_token": {"sub": {"value": ali}}})
    assert "code" in silent(browser, prompt="none", claims=mine)


def test_a_sub_in_the_claims_parameter_other_than_the_hints_is_invalid_request(browser, rp, user):
    body = tokens(browser)
    claims = json.dumps({"id_token": {"sub": {"value": "somebody-else"}}})
    result = redirected_error(authorize(browser, id_token_hint=body["id_token"], claims=claims))
    assert result["error"] == "invalid_request"
    not_text = json.dumps({"id_token": {"sub": {"value": 7}}})
    assert redirected_error(authorize(browser, claims=not_text))["error"] == "invalid_request"
