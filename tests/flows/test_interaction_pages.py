"""The interaction pages inside an authorization request: the way back to the portal, and one
request of a plan at a time."""
import html
import json
import re

from tests.helpers import PASSWORD, authorize, csrf, interaction_uid, login, make_user, outbox, query, submit_form

CANCEL = re.compile(r'href="([^"]*/cancel\?csrf_token=[^"]+)"')


def cancel_link(page) -> str:
    return html.unescape(CANCEL.search(page.get_data(as_text=True)).group(1))


def test_cancel_on_the_sign_in_page_sends_access_denied_to_the_portal(provider, browser, rp, user):
    start = authorize(browser, state="s-1")
    page = browser.get(start.headers["Location"])
    assert "Batal dan kembali ke portal" in page.get_data(as_text=True)
    back = browser.get(cancel_link(page))
    assert back.status_code == 302
    final = browser.get(back.headers["Location"])
    assert final.status_code == 302 and final.headers["Location"].startswith("https://rp.example/cb")
    answer = query(final.headers["Location"])
    assert answer["error"] == "access_denied" and answer["state"] == "s-1"
    assert answer["iss"] == "http://127.0.0.1:8000/t/kwsp" and "code" not in answer
    assert [e.event for e in provider.audit.events("kwsp", event="interaction.cancelled")] == ["interaction.cancelled"]
    # used up: neither the link nor the sign-in form goes on
    assert browser.get(cancel_link(page)).status_code == 400
    assert browser.get(start.headers["Location"]).status_code == 400


def test_cancel_needs_its_own_token(provider, browser, rp, user):
    start = authorize(browser)
    page = browser.get(start.headers["Location"])
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    page_path = start.headers["Location"].split("?")[0]
    forged = browser.get(f"{page_path}/cancel?csrf_token={form_token}")
    assert forged.status_code == 400
    assert not provider.audit.events("kwsp", event="interaction.cancelled")
    assert b'name="password"' in browser.get(start.headers["Location"]).data  # the sign-in goes on


def test_a_step_up_without_a_registered_number_offers_the_way_back(provider, browser, rp):
    make_user(provider, username="tiada", phone=None)
    login(browser, username="tiada")
    start = authorize(browser, acr_values="urn:kwsp:acr:tac",
                      authorization_details=json.dumps([{"type": "kwsp_withdrawal", "amount": "5000",
                                                         "account": "1234-5678"}]))
    page = browser.get(start.headers["Location"])
    assert "Tiada nombor telefon bimbit berdaftar" in page.get_data(as_text=True) and b'name="code"' not in page.data
    final = browser.get(browser.get(cancel_link(page)).headers["Location"])
    assert query(final.headers["Location"])["error"] == "access_denied"


def test_a_flow_opened_from_a_sign_in_leads_back_to_it(provider, browser, rp, user):
    # "forgot password", then the user remembers it: the sign-in they left still works
    login_url = authorize(browser).headers["Location"]
    browser.get(login_url)
    uid = interaction_uid(login_url)
    flow = browser.get(browser.get(f"/t/kwsp/account/forgot_password?from={uid}").headers["Location"])
    assert "Kembali ke log masuk" in flow.get_data(as_text=True)
    flow_url = browser.get(f"/t/kwsp/account/forgot_password?from={uid}").headers["Location"]
    sent = len(outbox(provider))
    back = browser.get(cancel_link(browser.get(flow_url)))
    assert back.headers["Location"] == login_url
    # the cancelled flow is over: let go, and not taken up again even with the cookie kept from before
    assert browser.get(flow_url).status_code == 400
    kept = browser.get_cookie("idp_interaction", path="/t/kwsp").value
    refused = browser.post(flow_url, data={"csrf_token": csrf(flow.get_data(as_text=True)), "username": "ali"})
    assert refused.status_code == 400 and len(outbox(provider)) == sent and kept
    page = browser.get(login_url)
    final = browser.get(submit_form(browser, page, login_url, username="ali", password=PASSWORD).headers["Location"])
    assert "code" in query(final.headers["Location"])


def test_a_finished_self_service_flow_is_not_run_again(provider, browser, rp, user):
    # a reload of the page that said "password changed": an expired page, not its end once more
    login(browser)
    url = browser.get("/t/kwsp/account/password_update").headers["Location"]
    new = "a brand new passphrase 2026"
    done = submit_form(browser, browser.get(url), url, current_password=PASSWORD, new_password=new,
                       confirm_password=new)
    assert done.status_code == 200
    def auth_times():
        return [s["auth_time"] for s in provider.sessions.of_account(provider.tenants["kwsp"], user["id"])]
    before = auth_times()
    assert browser.get(url).status_code == 400
    assert auth_times() == before


def test_a_flow_opened_on_its_own_has_no_way_back_to_offer(provider, browser, rp):
    start = browser.get("/t/kwsp/account/forgot_password")
    assert not CANCEL.search(browser.get(start.headers["Location"]).get_data(as_text=True))


def test_a_page_shown_while_a_submission_runs_waits_and_sends_nothing(provider, browser, rp, monkeypatch):
    # a reload beside a submission: the page's first TAC must not go out beside it, nor its plan
    # be saved over the submission's
    import flows.views
    monkeypatch.setattr(flows.views, "SUBMIT_WAIT", 0.05)
    make_user(provider)
    login(browser)
    start = authorize(browser, acr_values="urn:kwsp:acr:tac")
    uid = interaction_uid(start.headers["Location"])
    sent = len(outbox(provider))
    assert provider.store.incr(f"interaction_busy:{uid}", ttl=30) == 1  # a submission is running
    busy = browser.get(start.headers["Location"])
    assert busy.status_code == 409 and "Sila tunggu" in busy.get_data(as_text=True)
    assert len(outbox(provider)) == sent
    provider.store.delete("counter", f"interaction_busy:{uid}")
    page = browser.get(start.headers["Location"])
    assert page.status_code == 200 and b'name="code"' in page.data and len(outbox(provider)) == sent + 1


def test_an_interaction_page_its_store_cannot_serve_is_in_the_users_language(app, provider, browser, rp, user,
                                                                             monkeypatch):
    # the interaction (which holds the language) cannot be read: the page's own URL still says it,
    # and so does the redirect that resumes the authorization request
    import redis
    login_url = authorize(browser, ui_locales="en").headers["Location"]
    form = csrf(browser.get(login_url).get_data(as_text=True))

    def store_down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("the store went away")
    monkeypatch.setattr(provider.store, "get", store_down)
    for response in (browser.get(login_url),
                     browser.post(login_url, data={"csrf_token": form, "username": "ali", "password": PASSWORD})):
        assert response.status_code == 503
        assert "Service unavailable" in response.get_data(as_text=True)
    monkeypatch.undo()
    resume_url = browser.post(login_url, data={"csrf_token": form, "username": "ali", "password": PASSWORD}) \
        .headers["Location"]
    monkeypatch.setattr(provider.store, "consume", store_down)
    assert "Service unavailable" in browser.get(resume_url).get_data(as_text=True)  # the redirect after it
    monkeypatch.undo()
    other = app.test_client()
    ms_url = authorize(other).headers["Location"]  # the tenant's own language otherwise
    monkeypatch.setattr(provider.store, "get", store_down)
    assert "Perkhidmatan tidak tersedia" in other.get(ms_url).get_data(as_text=True)


def _title(response) -> str:
    return html.unescape(re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S).group(1))


def test_each_page_is_named_by_its_heading_and_says_when_it_shows_an_error(browser, rp, user):
    # WCAG 2.4.2 and 3.3.1: a screen reader user hears which page, and that the form came back
    url = authorize(browser).headers["Location"]
    page = browser.get(url)
    assert _title(page) == "Log Masuk - i-Akaun KWSP"
    assert 'aria-invalid' not in page.get_data(as_text=True)
    wrong = submit_form(browser, page, url, username="ali", password="not the password at all")
    assert _title(wrong) == "Ralat: Log Masuk - i-Akaun KWSP"
    fields = re.findall(r'<input type="(?:text|password)"([^>]*)>', wrong.get_data(as_text=True))
    assert len(fields) == 2 and all('aria-invalid="true" aria-describedby="error"' in f for f in fields)
    assert 'id="error" role="alert"' in wrong.get_data(as_text=True)
    forgot = browser.get("/t/kwsp/account/forgot_password?ui_locales=en", follow_redirects=True)
    assert _title(forgot) == "Forgot password - EPF i-Akaun"
