"""A user who chose English (the portal's ui_locales) stays in English through the pages the
sign-in leads to: the recovery links under it, the emailed reset link, the pages that say a flow
has expired. Malay is the tenants' default, so Malay pages would mean the choice was lost."""
import re

from tests.helpers import PASSWORD, auth_params, authorize, make_user, outbox, register_client, submit_form


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


def _reset_link_in_english(provider, browser, username) -> str:
    """A KWAP staff member's emailed reset link, asked for in English: its path."""
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username=username, identity_type="staff", email=f"{username}@klinik.example")
    start = browser.get("/t/kwap/account/forgot_password?ui_locales=en")
    url = start.headers["Location"]
    submit_form(browser, browser.get(url), url, username=username)
    link = re.search(r"(http://\S+/account/reset/\S+)", outbox(provider, "email")[-1]["text"]).group(1)
    return link.replace("http://127.0.0.1:8000", "")


def test_an_emailed_reset_link_opens_in_the_mails_language(provider, browser):
    path = _reset_link_in_english(provider, browser, "staf01")
    page = browser.get(path)
    assert "Reset your password" in _english(page)
    done = submit_form(browser, page, path)  # the form posts back to the link, language and all
    assert _english(browser.get(done.headers["Location"]))
    used = browser.get(path)  # used: the link's own expired page, in English too, with the way on
    assert used.status_code == 400 and "expired or has already been used" in _english(used)
    assert 'href="/t/kwap/account/forgot_password"' in used.get_data(as_text=True)


def test_a_signed_in_only_page_answers_in_the_asked_language(browser):
    assert "Please sign in" in _english(browser.get("/t/kwsp/account/totp_enrol?ui_locales=en"))


def test_a_form_too_large_on_an_english_sign_in_answers_in_english(browser, rp, user):
    url = authorize(browser, ui_locales="en").headers["Location"]
    response = browser.post(url, data={"csrf_token": "x", "username": "ali", "password": "x" * 70000})
    assert response.status_code == 413
    assert "Too much entered" in _english(response)


def test_the_sign_in_page_switches_language_and_the_rest_of_the_request_follows(browser, rp, user):
    # the portal passed no ui_locales: Malay, the tenant's default, with a link to English
    url = authorize(browser, response_mode="form_post").headers["Location"]
    malay = browser.get(url).get_data(as_text=True)
    assert '<html lang="ms"' in malay
    assert '<a href="?ui_locales=en" lang="en" hreflang="en">English</a>' in malay
    assert "Bahasa Melayu</a>" not in malay  # only the other languages
    path = url.split("?")[0]
    english = browser.get(f"{path}?ui_locales=en")
    assert '<a href="?ui_locales=ms" lang="ms" hreflang="ms">Bahasa Melayu</a>' in _english(english)
    assert _english(browser.get(f"{path}?ui_locales=fr"))  # not one of the tenant's: nothing changes
    # kept by the interaction, whatever URL the form posts to
    wrong = submit_form(browser, english, url, username="ali", password="not the password")
    assert "Invalid user ID or password." in _english(wrong)
    done = submit_form(browser, wrong, url, username="ali", password=PASSWORD)
    assert done.headers["Location"].endswith("?ui_locales=en")
    # the authorization request resumes in it too: the form_post page to the portal
    assert _english(browser.get(done.headers["Location"]))


def _malay(response):
    html = response.get_data(as_text=True)
    assert '<html lang="ms"' in html, html[:300]
    return html


def test_a_browser_that_prefers_english_gets_english_pages(browser, rp, user):
    english = {"Accept-Language": "en-GB,en;q=0.9,ms;q=0.5"}
    location = browser.get("/t/kwsp/authorize", query_string=auth_params(), headers=english).headers["Location"]
    assert "Sign in" in _english(browser.get(location))  # the interaction keeps it, whatever asks next
    unknown = browser.get("/t/kwsp/authorize", query_string=auth_params(client_id="nobody"), headers=english)
    assert unknown.status_code == 400 and _english(unknown)
    assert _english(browser.get("/t/kwsp/account/forgot_password", headers=english, follow_redirects=True))


def test_the_portals_ui_locales_and_a_language_link_come_before_the_browsers(browser, rp, user):
    english = {"Accept-Language": "en"}
    location = browser.get("/t/kwsp/authorize", query_string=auth_params(ui_locales="ms"),
                           headers=english).headers["Location"]
    assert "Log Masuk" in _malay(browser.get(location, headers=english))
    path = location.split("?")[0]
    assert _malay(browser.get(f"{path}?ui_locales=ms", headers=english))


def test_a_browser_language_the_tenant_lacks_gets_the_tenants_default(browser, rp, user):
    for header in ("fr-FR, zh;q=0.8", "en;q=0", "*;q=abc,,"):
        location = browser.get("/t/kwsp/authorize", query_string=auth_params(),
                               headers={"Accept-Language": header}).headers["Location"]
        assert _malay(browser.get(location))


def test_an_error_page_links_to_itself_in_the_other_language(browser, rp):
    missing = browser.get("/t/kwsp/nothing/here")
    link = re.search(r'<a href="([^"]+)" lang="en"', _malay(missing)).group(1)
    assert link == "/t/kwsp/nothing/here?ui_locales=en" and browser.get(link).status_code == 404
    # a refused authorization request has none: the link would repeat what the request carried
    refused = browser.get("/t/kwsp/authorize", query_string=auth_params(client_id="nobody"))
    assert refused.status_code == 400 and "ui_locales=" not in refused.get_data(as_text=True)
    # a path that decodes to a query stays a path
    odd = browser.get("/t/kwsp/account/reset/abc%3Fclient_id=x%26y=1")
    assert 'href="/t/kwsp/account/reset/abc%3Fclient_id%3Dx%26y%3D1?ui_locales=en"' in odd.get_data(as_text=True)
    signed_out = browser.get("/t/kwsp/account/sessions?ui_locales=en")  # "please sign in": 401
    assert 'href="/t/kwsp/account/sessions?ui_locales=ms"' in _english(signed_out)


def test_a_reset_by_email_ends_with_a_way_to_the_portal(provider, browser):
    path = _reset_link_in_english(provider, browser, "staf02")
    done = submit_form(browser, browser.get(path), path)
    choose = browser.get(done.headers["Location"])
    finished = submit_form(browser, choose, done.headers["Location"], new_password="a fresh passphrase 2026",
                           confirm_password="a fresh passphrase 2026")
    page = browser.get(finished.headers["Location"]) if finished.status_code in (302, 303) else finished
    html = _english(page)
    assert 'href="https://pension-assist.kwap.my"' in html and "Go to the portal" in html
