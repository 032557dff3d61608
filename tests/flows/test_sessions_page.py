"""A signed-in user sees where they are signed in and which portals keep offline access, and
ends what they choose, after giving their password again (ASVS 7.5.2, 10.4.9)."""
import re

from tests.helpers import PASSWORD, authorize, basic, exchange, login, query, submit_form


def _signed_in(browser):
    return "code" in query(authorize(browser, prompt="none").headers["Location"])


def _open(browser):
    url = browser.get("/t/kwsp/account/sessions?ui_locales=en").headers["Location"]
    return url, submit_form(browser, browser.get(url), url, password=PASSWORD)


def test_the_user_ends_another_browsers_session_and_a_portals_offline_access(app, provider, browser, rp, user):
    elsewhere, phone_app = app.test_client(), app.test_client()
    login(elsewhere)
    offline = exchange(phone_app, login(phone_app, scope="openid offline_access")["code"]).json
    login(browser)
    url, page = _open(browser)
    html = page.get_data(as_text=True)
    assert "This browser" in html and html.count('type="submit"') == 1
    sids = re.findall(r'name="session" value="([^"]+)"', html)
    grants = re.findall(r'name="grant" value="([^"]+)"', html)
    assert len(sids) == 2 and len(grants) == 1  # elsewhere and the phone app's sign-in; its offline grant
    described = re.findall(r'aria-describedby="([^"]+)"', html)  # each box says which it ends
    assert len(described) == 3 and all(re.search(f'id="{ref}">[^<]*\\d', html) for ref in described)
    assert "Revoke portal&#39;s access" in html or "Revoke portal's access" in html

    elsewhere_sid = next(s for s in sids if s == _sid(provider, elsewhere))
    done = browser.post(url, data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                                   "stage": re.search(r'name="stage" value="(\d+)"', html).group(1),
                                   "session": elsewhere_sid, "grant": grants})
    assert done.status_code == 200 and "have been ended" in done.get_data(as_text=True)
    assert not _signed_in(elsewhere) and _signed_in(browser) and _signed_in(phone_app)  # only what was chosen
    refreshed = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "refresh_token", "refresh_token": offline["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    assert provider.audit.events("kwsp", event="session.ended")[-1].detail["reason"] == "user"
    assert provider.audit.events("kwsp", event="grant.revoked")[-1].detail["reason"] == "user"


def test_a_session_idle_past_its_timeout_is_not_listed(app, provider, browser, rp, user, monkeypatch):
    # its entry stays in the store until the absolute end; the user is no longer signed in there
    import time
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    start, clock = time.time(), time.time
    idled = app.test_client()
    login(idled)
    login(browser)
    monkeypatch.setattr("time.time", lambda: clock() + idle - 30)
    assert _signed_in(browser)  # this browser in use, the other not
    monkeypatch.setattr("time.time", lambda: clock() + idle + 30)
    url, page = _open(browser)
    assert time.time() - start > idle and not re.findall(r'name="session" value=', page.get_data(as_text=True))
    assert not _signed_in(idled)


def _sid(provider, browser):
    from idp.oauth.subject import digest
    cookie = next(c.value for c in browser._cookies.values() if c.key == "idp_session")
    return provider.store.get("session", digest(cookie))["sid"]


def test_only_the_users_own_sessions_and_grants_can_be_ended(app, provider, browser, rp, user):
    from tests.helpers import make_user
    make_user(provider, username="siti", email="siti@example.com", phone="0191112222")
    other = app.test_client()
    body = exchange(other, login(other, username="siti", scope="openid offline_access")["code"]).json
    login(browser)
    url, page = _open(browser)
    html = page.get_data(as_text=True)
    assert _sid(provider, other) not in html
    theirs = provider.store.family(f"grants:{provider.accounts.find('kwsp', 'siti').id}")[0]["grant"]
    submit_form(browser, page, url, session=_sid(provider, other), grant=theirs)
    assert _signed_in(other)
    refreshed = other.post("/t/kwsp/token", headers=basic(),
                           data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200


def test_the_page_needs_a_signed_in_user_and_their_password(browser, rp, user):
    assert browser.get("/t/kwsp/account/sessions?ui_locales=en").status_code == 401
    login(browser)
    url = browser.get("/t/kwsp/account/sessions").headers["Location"]
    wrong = submit_form(browser, browser.get(url), url, password="not my password")
    assert wrong.status_code == 400 and 'name="session"' not in wrong.get_data(as_text=True)
