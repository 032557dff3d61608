"""The SSO session cookie (ASVS 7.2.4 fresh token at sign-in, 3.3 cookie attributes) and sign-in
answers that do not reveal whether a username exists (ASVS 6.3.8)."""
import re

import pytest

from idp import create_app
from tests.helpers import PASSWORD, authorize, csrf, follow, interaction_uid, make_user, query, register_client
from tests.oidc.support import silent

COOKIE = "idp_session"


def submit_sign_in(browser, username="ali", password=None):
    start = authorize(browser, prompt="login", ui_locales="en")
    page = browser.get(start.headers["Location"])
    return browser.post(start.headers["Location"], data={
        "csrf_token": csrf(page.get_data(as_text=True)), "username": username,
        "password": PASSWORD if password is None else password})


def session_cookie_header(response):
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def cookie_value(header):
    return header.split(";")[0].split("=", 1)[1]


def test_session_cookie_attributes_on_http_localhost(browser, rp, user):
    header = session_cookie_header(submit_sign_in(browser))
    attributes = [a.strip().lower() for a in header.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/t/kwsp" in attributes
    assert "secure" not in attributes  # a Secure cookie would never come back over http://127.0.0.1
    assert len(cookie_value(header)) >= 32  # 256 random bits, well over 64 (NIST SP 800-63B)


def test_session_cookie_secure_when_public_url_is_https(settings, tmp_path):
    app = create_app({**settings, "IDP_PUBLIC_URL": "https://idp.example.gov.my",
                      "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'https.sqlite3'}"})
    provider = app.extensions["idp"]
    register_client(provider)
    make_user(provider)
    browser = app.test_client()
    header = session_cookie_header(submit_sign_in(browser))
    attributes = [a.strip().lower() for a in header.split(";")]
    assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes


def test_interaction_cookie_attributes(browser, rp):
    start = authorize(browser)
    header = next(c for c in start.headers.getlist("Set-Cookie") if c.startswith("idp_interaction="))
    attributes = [a.strip().lower() for a in header.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "secure" not in attributes


def test_a_leaked_interaction_url_does_not_carry_the_sign_in(browser, rp, user):
    # the victim has submitted the password; an attacker who read the interaction URL (a log, a
    # screenshot) and sets a cookie from it gets neither the page nor the session nor the code
    start = authorize(browser)
    url = start.headers["Location"]
    uid = interaction_uid(url)
    page = browser.get(url)
    done = browser.post(url, data={"csrf_token": csrf(page.get_data(as_text=True)), "username": "ali",
                                   "password": PASSWORD})
    assert done.status_code in (302, 303)
    attacker = browser.application.test_client()
    attacker.set_cookie("idp_interaction", uid, path="/t/kwsp")
    for response in (attacker.get(url), attacker.get(f"/t/kwsp/authorize/resume/{uid}")):
        assert response.status_code == 400 and not any(
            c.startswith(f"{COOKIE}=") for c in response.headers.getlist("Set-Cookie"))
    assert query(authorize(attacker, prompt="none").headers["Location"])["error"] == "login_required"
    assert "code" in query(follow(browser, done).headers["Location"])  # the owner goes on


def test_sign_ins_in_two_tabs_both_go_through(browser, rp, user):
    # one browser holds each interaction it started (tabs, a double click on the portal's button),
    # not only the latest: the first tab is no dead end
    first, second = (authorize(browser, state=f"tab-{n}").headers["Location"] for n in (1, 2))
    pages = {url: browser.get(url) for url in (first, second)}
    for url, state in ((first, "tab-1"), (second, "tab-2")):
        done = browser.post(url, data={"csrf_token": csrf(pages[url].get_data(as_text=True)), "username": "ali",
                                       "password": PASSWORD})
        result = query(follow(browser, done).headers["Location"])
        assert result["state"] == state and "code" in result


def test_a_browser_holds_a_few_interactions_the_oldest_lapsing_first(browser, rp, user):
    from flows.csrf import MAX_HELD
    urls = [authorize(browser).headers["Location"] for _ in range(MAX_HELD + 1)]
    assert browser.get(urls[0]).status_code == 400  # the oldest binding gave way
    assert all(browser.get(url).status_code == 200 for url in urls[1:])
    assert len(browser.get_cookie("idp_interaction", path="/t/kwsp").value) < 400  # a bounded cookie
    other = browser.application.test_client()  # and still no other browser holds any of them
    other.set_cookie("idp_interaction", browser.get_cookie("idp_interaction", path="/t/kwsp").value[:64] + ".x",
                     path="/t/kwsp")
    assert other.get(urls[-1]).status_code == 400


def test_an_interaction_resumed_into_the_next_holds_only_the_next(browser, provider, rp):
    # a temporary password's sign-in resumes into the forced change: the spent binding goes
    from tests.helpers import make_user
    make_user(provider, username="baru")
    provider.accounts.update("kwsp", provider.accounts.find("kwsp", "baru").id, must_change_password=True)
    url = authorize(browser).headers["Location"]
    done = browser.post(url, data={"csrf_token": csrf(browser.get(url).get_data(as_text=True)), "username": "baru",
                                   "password": PASSWORD})
    following = browser.get(done.headers["Location"])  # the resume, which starts the change
    assert "/interaction/" in following.headers["Location"] and following.headers["Location"] != url
    assert len(browser.get_cookie("idp_interaction", path="/t/kwsp").value.split(".")) == 1


def test_fresh_session_id_at_sign_in(browser, rp, user):
    first = cookie_value(session_cookie_header(submit_sign_in(browser)))
    second = cookie_value(session_cookie_header(submit_sign_in(browser)))
    assert first != second
    # the old session id is dead: a browser replaying it is not signed in
    other = browser.application.test_client()
    other.set_cookie(COOKIE, first, path="/t/kwsp")
    assert query(authorize(other, prompt="none").headers["Location"])["error"] == "login_required"
    other.set_cookie(COOKIE, second, path="/t/kwsp")
    assert "code" in silent(other, prompt="none")


def test_session_fixation_planted_cookie_replaced(browser, rp, user):
    browser.set_cookie(COOKIE, "attacker-chosen-session-id-0123456789", path="/t/kwsp")
    header = session_cookie_header(submit_sign_in(browser))
    assert cookie_value(header) != "attacker-chosen-session-id-0123456789"


def test_session_is_per_tenant(browser, provider, rp, user):
    register_client(provider, tenant="perkeso")
    header = session_cookie_header(submit_sign_in(browser))
    assert "path=/t/kwsp" in header.lower()
    other = browser.application.test_client()
    other.set_cookie(COOKIE, cookie_value(header), path="/t/perkeso")
    response = authorize(other, tenant="perkeso", prompt="none")
    assert query(response.headers["Location"])["error"] == "login_required"


def visible_text(response):
    html = response.get_data(as_text=True)
    html = re.sub(r'name="csrf_token" value="[^"]*"', "", html)
    html = re.sub(r'name="username" value="[^"]*"', "", html)
    html = re.sub(r"from=[A-Za-z0-9_-]+", "", html)  # the interaction's own id
    html = re.sub(r"interaction/[A-Za-z0-9_-]+/cancel\?csrf_token=[0-9a-f]+", "", html)  # and its cancel link
    return re.sub(r'nonce-?="?[A-Za-z0-9_-]+', "", html)


def test_failed_sign_in_identical_for_unknown_user_and_wrong_password(browser, rp, user):
    wrong_password = submit_sign_in(browser, "ali", "not the right password at all")
    unknown_user = submit_sign_in(browser.application.test_client(), "nobody-here", "not the right password at all")
    assert wrong_password.status_code == unknown_user.status_code
    assert "Set-Cookie" not in wrong_password.headers or COOKIE not in wrong_password.headers["Set-Cookie"]
    assert visible_text(wrong_password) == visible_text(unknown_user)
    assert "Invalid user ID or password." in visible_text(unknown_user)


@pytest.mark.parametrize("username", ["ALI", " ali "])
def test_username_is_case_insensitive(browser, rp, user, username):
    response = submit_sign_in(browser, username)
    assert COOKIE in "".join(response.headers.getlist("Set-Cookie"))
