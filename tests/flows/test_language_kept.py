"""A user who chose English (the portal's ui_locales) stays in English through the pages the
sign-in leads to: the recovery links under it, the emailed reset link, the pages that say a flow
has expired. Malay is the tenants' default, so Malay pages would mean the choice was lost."""
import re

from tests.helpers import authorize, make_user, outbox, register_client, submit_form


def _english(response):
    html = response.get_data(as_text=True)
    assert '<html lang="en"' in html, html[:300]
    return html


def test_recovery_links_under_an_english_sign_in_open_english_flows(browser, rp, user):
    sign_in = browser.get(authorize(browser, ui_locales="en").headers["Location"])
    html = _english(sign_in)
    link = re.search(r'href="(/t/kwsp/account/forgot_password[^"]*)"', html).group(1).replace("&amp;", "&")
    flow = browser.get(browser.get(link).headers["Location"])
    assert "Lupa" not in _english(flow)


def test_an_emailed_reset_link_opens_in_the_mails_language(provider, browser):
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username="staf01", identity_type="staff", email="staf01@klinik.example")
    start = browser.get("/t/kwap/account/forgot_password?ui_locales=en")
    url = start.headers["Location"]
    submit_form(browser, browser.get(url), url, username="staf01")
    link = re.search(r"(http://\S+/account/reset/\S+)", outbox(provider, "email")[-1]["text"]).group(1)
    path = link.replace("http://127.0.0.1:8000", "")
    page = browser.get(path)
    assert "Reset your password" in _english(page)
    done = submit_form(browser, page, path)  # the form posts back to the link, language and all
    assert _english(browser.get(done.headers["Location"]))
    assert "Session expired" in _english(browser.get(path))  # used: the expired page, in English too


def test_a_signed_in_only_page_answers_in_the_asked_language(browser):
    assert "Please sign in" in _english(browser.get("/t/kwsp/account/totp_enrol?ui_locales=en"))


def test_a_form_too_large_on_an_english_sign_in_answers_in_english(browser, rp, user):
    url = authorize(browser, ui_locales="en").headers["Location"]
    response = browser.post(url, data={"csrf_token": "x", "username": "ali", "password": "x" * 70000})
    assert response.status_code == 413
    assert "Too much entered" in _english(response)
