"""A signed-in user changes their password (ASVS 6.2.2, 6.2.3): the current one and the new one on
one form, the tenant's rules for the new one, their other browsers signed out."""
from tests.helpers import PASSWORD, USER_ID_FOR_MANAGERS, authorize, csrf, login, outbox, query, sign_in

NEW = "a brand new passphrase 2026"


def _open(browser):
    url = browser.get("/t/kwsp/account/password_update?ui_locales=en").headers["Location"]
    return url, browser.get(url)


def _submit(browser, page, url, current, new, confirm=None):
    return browser.post(url, data={"csrf_token": csrf(page.get_data(as_text=True)), "current_password": current,
                                   "new_password": new, "confirm_password": new if confirm is None else confirm})


def _signed_in(browser):
    return "code" in query(authorize(browser, prompt="none").headers["Location"])


def test_a_signed_in_user_changes_their_password(app, provider, browser, rp, user):
    elsewhere = app.test_client()
    login(elsewhere)
    login(browser)
    url, page = _open(browser)
    html = page.get_data(as_text=True)
    for field in ("current_password", "new_password", "confirm_password", "csrf_token"):
        assert f'name="{field}"' in html
    assert html.count('type="submit"') == 1
    assert USER_ID_FOR_MANAGERS.format("ali") in html and 'autocomplete="off"' not in html

    wrong = _submit(browser, page, url, "not my password", NEW)
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.get_data(as_text=True)
    mismatch = _submit(browser, wrong, url, PASSWORD, NEW, confirm=NEW + "!")
    assert "do not match" in mismatch.get_data(as_text=True)
    reused = _submit(browser, mismatch, url, PASSWORD, PASSWORD)
    assert "used this password before" in reused.get_data(as_text=True)
    assert provider.sign_in(provider.tenants["kwsp"], "ali", PASSWORD, None).account_id  # nothing changed yet

    done = _submit(browser, reused, url, PASSWORD, NEW)
    assert done.status_code == 200 and "You stay signed in here" in done.get_data(as_text=True)
    assert _signed_in(browser) and not _signed_in(elsewhere)
    notice = outbox(provider, "sms")[-1]
    assert notice["to"] == "+60123456789" and "Kata laluan anda telah ditukar" in notice["text"]  # the owner is told
    event = provider.audit.events("kwsp", event="password.changed")[-1]
    assert event.detail["reason"] == "change"
    fresh = app.test_client()
    refused = sign_in(fresh, authorize(fresh), password=PASSWORD)
    assert refused.status_code == 400  # the old password no longer signs in
    assert "code" in query(sign_in(fresh, authorize(fresh), password=NEW).headers["Location"])


def _session_cookie(browser):
    return next(c.value for c in browser._cookies.values() if c.key == "idp_session")


def test_the_password_given_again_renews_the_session_cookie(app, browser, rp, user):
    # ASVS 7.2.4: a new session token at re-authentication too; the old one ends
    login(browser)
    before = _session_cookie(browser)
    url, page = _open(browser)
    assert _submit(browser, page, url, PASSWORD, NEW).status_code == 200
    assert _session_cookie(browser) != before and _signed_in(browser)
    copied = app.test_client()
    copied.set_cookie("idp_session", before, path="/t/kwsp")
    assert not _signed_in(copied)  # a cookie taken before the password was given again


def test_a_wrong_current_password_counts_as_a_failed_sign_in(provider, browser, rp, user):
    login(browser)
    url, page = _open(browser)
    _submit(browser, page, url, "not my password", NEW)
    failure = provider.audit.events("kwsp", event="login.password")[-1]
    assert failure.outcome == "failure" and failure.detail["reason"] == "bad_password"


def test_changing_a_password_needs_a_signed_in_user(browser, rp, user):
    page = browser.get("/t/kwsp/account/password_update?ui_locales=en")
    assert page.status_code == 401 and "Please sign in" in page.get_data(as_text=True)
