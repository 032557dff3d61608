"""Activation windows and first sign-in (issue 3, policy 1 and 2), for every tenant's channel."""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import authorize, exchange, follow, login, outbox, query, read_sms, submit_form

NEW_PASSWORD = "kelapa sawit di tepi sungai"


def temporary_password(text):
    return re.search(r"(?:sementara|temporary password) (\S+?)[.,]? ", text).group(1)


def start_sign_in(browser, tenant, username, password, client="portal"):
    first = authorize(browser, tenant=tenant, client_id=client)
    page_url = first.headers["Location"]
    page = browser.get(page_url)
    return follow(browser, submit_form(browser, page, page_url, username=username, password=password))


def choose_password(browser, response, password=NEW_PASSWORD, confirm=None):
    url = response.request.path
    return submit_form(browser, response, url, new_password=password, confirm_password=confirm or password)


@pytest.mark.parametrize("tenant,username,kind,channel", [
    ("kwsp", "ahli01", "member", "sms"),
    ("perkeso", "majikan01", "employer", "email"),
    ("kwap", "staf01", "staff", "email"),
])
def test_first_sign_in_with_temporary_password_forces_a_new_one(provider, browser, tenant, username, kind, channel):
    from tests.helpers import register_client
    register_client(provider, tenant=tenant)
    account = provider.lifecycle.create(provider.tenants[tenant], username=username, identity_type=kind,
                                        temporary=True, phone="0123456789", email=f"{username}@example.com")
    assert account["state"] == "pending_activation"
    message = outbox(provider, channel)[-1]
    assert username in message["text"] and message["tenant"] == tenant
    temp = temporary_password(message["text"])

    page = start_sign_in(browser, tenant, username, temp)
    assert page.status_code == 200 and b'name="new_password"' in page.data   # no code yet
    assert "kata laluan sementara. Bagi tujuan keselamatan" in page.get_data(as_text=True)  # told why
    # restarting the authorization request does not skip the change
    again = follow(browser, authorize(browser, tenant=tenant))
    assert b'name="new_password"' in again.data
    # the temporary password never becomes the permanent one
    refused = choose_password(browser, again, password=temp)
    assert refused.status_code == 400
    done = follow(browser, choose_password(browser, again))
    assert done.headers["Location"].startswith("https://rp.example/cb")
    code = query(done.headers["Location"])["code"]
    assert exchange(browser, code, tenant=tenant).status_code == 200
    stored = provider.accounts.find(tenant, username)
    assert stored.state == "active" and not stored.must_change_password and stored.activation_secret is None


def test_day_30_works_and_day_31_is_dead(provider, browser, rp):
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli02", identity_type="member", temporary=True, phone="0123456789")
    temp = temporary_password(read_sms(provider)["text"])
    account = provider.accounts.find("kwsp", "ahli02")
    created = account.created_at
    # deadline = issue + 30 days; "now" is just before it: still open
    provider.accounts.update("kwsp", account.id, activation_deadline=datetime.now(timezone.utc) + timedelta(seconds=30))
    assert b'name="new_password"' in start_sign_in(browser, "kwsp", "ahli02", temp).data
    browser.delete_cookie("idp_session", path="/t/kwsp")
    # day 31: the credential is dead; the page says go to the counter
    provider.accounts.update("kwsp", account.id, activation_deadline=created - timedelta(seconds=1))
    page = start_sign_in(browser, "kwsp", "ahli02", temp)
    assert page.status_code == 400
    assert "kaunter" in page.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "ahli02").state == "pending_activation"


def test_helpdesk_reissue_gives_a_new_credential_and_deadline(provider, browser, rp):
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli03", identity_type="member", temporary=True, phone="0123456789")
    old = temporary_password(read_sms(provider)["text"])
    account = provider.accounts.find("kwsp", "ahli03")
    provider.accounts.update("kwsp", account.id, activation_deadline=datetime.now(timezone.utc) - timedelta(days=1))
    provider.lifecycle.reissue(tenant, provider.accounts.find("kwsp", "ahli03"), actor="helpdesk:aminah")
    new = temporary_password(read_sms(provider)["text"])
    assert new != old
    assert provider.accounts.find("kwsp", "ahli03").activation_deadline > datetime.now(timezone.utc) + timedelta(days=29)
    assert b"tidak sah" in start_sign_in(browser, "kwsp", "ahli03", old).data
    browser.delete_cookie("idp_session", path="/t/kwsp")
    assert b'name="new_password"' in start_sign_in(browser, "kwsp", "ahli03", new).data


def test_the_sms_gives_the_deadline_in_the_users_clock(provider):
    # created late in the evening UTC: already the next morning in Kuala Lumpur, whose date it is
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli04", identity_type="member", temporary=True, phone="0123456789")
    deadline = provider.accounts.find("kwsp", "ahli04").activation_deadline
    local = deadline.astimezone(ZoneInfo("Asia/Kuala_Lumpur"))
    assert f"sebelum {local:%H:%M %d/%m/%Y}" in read_sms(provider)["text"]


def activate(browser, username, code):
    start = browser.get("/t/kwsp/account/activation")
    page = browser.get(start.headers["Location"])
    return start.headers["Location"], submit_form(browser, page, start.headers["Location"],
                                                  username=username, activation_code=code)


def test_employer_activates_with_the_counter_code(provider, browser, rp):
    out = provider.lifecycle.create(provider.tenants["kwsp"], username="wakil01", identity_type="employer",
                                    temporary=True, email="wakil@example.com")
    code = out["activation_code"]
    url, wrong = activate(browser, "wakil01", "AAAA-BBBB-CCCC-DDDD")
    assert wrong.status_code == 400 and "tidak sah" in wrong.get_data(as_text=True)
    password_page = submit_form(browser, browser.get(url), url, username="wakil01", activation_code=code.lower())
    assert b'name="new_password"' in password_page.data
    done = submit_form(browser, password_page, url, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert done.status_code == 200 and "diaktifkan" in done.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "wakil01").state == "active"
    # single use: the code is gone
    _, again = activate(browser, "wakil01", code)
    assert again.status_code == 400


def test_a_strangers_wrong_codes_hold_the_user_id_for_an_hour_and_say_so(provider, app, rp):
    from idp.self_service import ACTIVATION_ATTEMPTS
    out = provider.lifecycle.create(provider.tenants["kwsp"], username="wakil02", identity_type="employer",
                                    temporary=True, email="wakil@example.com")
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(ACTIVATION_ATTEMPTS):
        _, wrong = activate(stranger, "wakil02", "AAAA-BBBB-CCCC-DDDD")
        assert "tidak sah" in wrong.get_data(as_text=True)
    _, held = activate(owner, "wakil02", out["activation_code"])  # the right code, not called wrong
    assert held.status_code == 400 and "Terlalu banyak cubaan" in held.get_data(as_text=True)
    _, unknown = activate(stranger, "nobody", "AAAA-BBBB-CCCC-DDDD")  # an ID of no one is held alike
    for _ in range(ACTIVATION_ATTEMPTS):
        _, unknown = activate(stranger, "nobody", "AAAA-BBBB-CCCC-DDDD")
    assert "Terlalu banyak cubaan" in unknown.get_data(as_text=True)
    account = provider.accounts.find("kwsp", "wakil02")
    provider.lifecycle.clear_tac(provider.tenants["kwsp"], account, actor="helpdesk")  # the helpdesk lifts it
    url, page = activate(owner, "wakil02", out["activation_code"])
    assert b'name="new_password"' in page.data
    for _ in range(ACTIVATION_ATTEMPTS + 1):
        activate(stranger, "wakil02", "AAAA-BBBB-CCCC-DDDD")
    again = provider.lifecycle.reissue(provider.tenants["kwsp"], provider.accounts.find("kwsp", "wakil02"), "helpdesk")
    _, page = activate(app.test_client(), "wakil02", again["activation_code"])  # a new code starts unspent
    assert b'name="new_password"' in page.data


def test_an_activation_code_sets_one_password_even_from_two_pages(provider, app, rp):
    # two pages that both passed the code before either chose a password: the second is late
    out = provider.lifecycle.create(provider.tenants["kwsp"], username="wakil02", identity_type="employer",
                                    temporary=True, email="wakil2@example.com")
    first, second = app.test_client(), app.test_client()
    (url1, page1), (url2, page2) = (activate(b, "wakil02", out["activation_code"]) for b in (first, second))
    assert b'name="new_password"' in page1.data and b'name="new_password"' in page2.data
    assert submit_form(first, page1, url1, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD).status_code == 200
    login(first, username="wakil02", password=NEW_PASSWORD)  # the owner signs in with it
    other = "pokok durian berbuah lebat"
    late = submit_form(second, page2, url2, new_password=other, confirm_password=other)
    assert late.status_code == 400 and "telah digunakan atau telah digantikan" in late.get_data(as_text=True)
    assert "code=" in authorize(first, prompt="none").headers["Location"]  # the late page ended nothing
    tenant = provider.tenants["kwsp"]
    assert provider.sign_in(tenant, "wakil02", NEW_PASSWORD, None).account_id
    assert provider.sign_in(tenant, "wakil02", other, None).account_id is None


def test_a_page_that_passed_a_code_before_a_reissue_sets_no_password(provider, app, rp):
    tenant = provider.tenants["kwsp"]
    out = provider.lifecycle.create(tenant, username="wakil03", identity_type="employer", temporary=True,
                                    email="wakil3@example.com")
    early = app.test_client()
    url, page = activate(early, "wakil03", out["activation_code"])
    assert b'name="new_password"' in page.data
    reissued = provider.lifecycle.reissue(tenant, provider.accounts.find("kwsp", "wakil03"), actor="helpdesk:aminah")
    late = submit_form(early, page, url, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert late.status_code == 400 and "telah digantikan" in late.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "wakil03").state == "pending_activation"
    assert provider.sign_in(tenant, "wakil03", NEW_PASSWORD, None).account_id is None
    # the newest code still works
    url, page = activate(app.test_client(), "wakil03", reissued["activation_code"])
    assert b'name="new_password"' in page.data


def test_a_temporary_password_replaced_by_the_helpdesk_sets_no_password(provider, browser, rp):
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli04", identity_type="member", temporary=True, phone="0123456789")
    old = temporary_password(read_sms(provider)["text"])
    page = start_sign_in(browser, "kwsp", "ahli04", old)
    assert b'name="new_password"' in page.data
    provider.lifecycle.reissue(tenant, provider.accounts.find("kwsp", "ahli04"), actor="helpdesk:aminah")
    new = temporary_password(read_sms(provider)["text"])
    late = choose_password(browser, page)
    assert late.status_code == 400 and "telah digantikan" in late.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "ahli04").state == "pending_activation"
    page = start_sign_in(browser, "kwsp", "ahli04", new)  # the old session went with the old password
    done = follow(browser, choose_password(browser, page))
    assert done.headers["Location"].startswith("https://rp.example/cb")
    assert provider.accounts.find("kwsp", "ahli04").state == "active"


def test_activation_code_after_the_window_is_refused(provider, browser, rp):
    out = provider.lifecycle.create(provider.tenants["kwsp"], username="wakil02", identity_type="employer",
                                    temporary=True, email="wakil2@example.com")
    account = provider.accounts.find("kwsp", "wakil02")
    provider.accounts.update("kwsp", account.id, activation_deadline=datetime.now(timezone.utc) - timedelta(seconds=1))
    _, page = activate(browser, "wakil02", out["activation_code"])
    assert page.status_code == 400 and "kaunter" in page.get_data(as_text=True)


def test_a_password_change_ends_the_other_sessions_and_renews_this_one(provider, app, rp):
    # ASVS 7.4.3 and 7.2.4: whoever signed in with the old (here temporary) password is signed out
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli03", identity_type="member", temporary=True, phone="0123456789")
    temp = temporary_password(read_sms(provider)["text"])
    a, b = app.test_client(), app.test_client()
    change_page = start_sign_in(a, "kwsp", "ahli03", temp)
    assert b'name="new_password"' in start_sign_in(b, "kwsp", "ahli03", temp).data
    before = a.get_cookie("idp_session", path="/t/kwsp").value
    done = follow(a, choose_password(a, change_page))
    assert done.headers["Location"].startswith("https://rp.example/cb")  # this browser goes on
    assert a.get_cookie("idp_session", path="/t/kwsp").value != before  # under a new session id
    other = authorize(b)
    assert "/interaction/" in other.headers["Location"] and "code=" not in other.headers["Location"]


@pytest.mark.parametrize("flow", ["totp_enrol", "phone_change"])
def test_a_temporary_password_alone_does_not_reach_the_signed_in_flows(provider, browser, rp, flow):
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli04", identity_type="member", temporary=True, phone="0123456789")
    temp = temporary_password(read_sms(provider)["text"])
    assert b'name="new_password"' in start_sign_in(browser, "kwsp", "ahli04", temp).data  # signed in, change pending
    assert browser.get(f"/t/kwsp/account/{flow}").status_code == 401


def test_a_session_that_does_not_carry_the_awaited_temporary_password_signs_in_again(provider, browser, rp):
    # e.g. one opened before sessions kept it: such a session cannot set the first password, so
    # it must not hold the user on a page that refuses every try
    from idp.oauth.subject import digest
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli05", identity_type="member", temporary=True, phone="0123456789")
    assert b'name="new_password"' in start_sign_in(browser, "kwsp", "ahli05",
                                                   temporary_password(read_sms(provider)["text"])).data
    key = digest(browser.get_cookie("idp_session", path="/t/kwsp").value)
    session = provider.store.get("session", key)
    del session["credential"]
    provider.store.replace("session", key, session, 600)
    again = follow(browser, authorize(browser, tenant="kwsp"))
    assert b'name="password"' in again.data and b'name="new_password"' not in again.data


def _close_the_window(provider, username):
    account = provider.accounts.find("kwsp", username)
    provider.accounts.update("kwsp", account.id, activation_deadline=datetime.now(timezone.utc) - timedelta(seconds=1))
    return account


def test_a_first_password_after_the_window_closed_is_refused(provider, browser, rp):
    # the temporary password was checked in time; the new one comes after the deadline
    provider.lifecycle.create(provider.tenants["kwsp"], username="ahli05", identity_type="member", temporary=True,
                              phone="0123456789")
    page = start_sign_in(browser, "kwsp", "ahli05", temporary_password(read_sms(provider)["text"]))
    assert b'name="new_password"' in page.data
    _close_the_window(provider, "ahli05")
    late = choose_password(browser, page)
    assert late.status_code == 400 and "kaunter" in late.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "ahli05").state == "pending_activation"
    # and with an activation code
    out = provider.lifecycle.create(provider.tenants["kwsp"], username="wakil05", identity_type="employer",
                                    temporary=True, email="wakil5@example.com")
    url, page = activate(browser, "wakil05", out["activation_code"])
    _close_the_window(provider, "wakil05")
    late = submit_form(browser, page, url, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert late.status_code == 400 and "kaunter" in late.get_data(as_text=True)
    assert provider.accounts.find("kwsp", "wakil05").state == "pending_activation"


def test_set_password_rechecks_the_window_as_it_writes(provider):
    # the page's check and the write are apart: the write itself holds to the deadline
    from idp.self_service import SelfService
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli06", identity_type="member", temporary=True, phone="0123456789")
    outcome = provider.sign_in(tenant, "ahli06", temporary_password(read_sms(provider)["text"]), None)
    account = _close_the_window(provider, "ahli06")
    assert not SelfService(provider).set_password(tenant, account.id, NEW_PASSWORD, None, "first_sign_in",
                                                  credential=outcome.credential)
    assert provider.accounts.find("kwsp", "ahli06").state == "pending_activation"


def test_a_pending_account_without_a_deadline_has_no_window_open(provider):
    # a row from outside the life cycle (an import, a hand edit): closed, not open for ever
    tenant = provider.tenants["kwsp"]
    account = provider.lifecycle.create(tenant, username="ahli09", identity_type="member", temporary=True,
                                        phone="0123456789")
    password = temporary_password(outbox(provider, "sms")[-1]["text"])
    provider.accounts.update("kwsp", account["id"], activation_deadline=None)
    outcome = provider.sign_in(tenant, "ahli09", password, None)
    assert outcome.account_id is None and outcome.message == "login.activation_expired"


def test_a_reissue_clears_the_failures_of_a_pending_account_refused_at_the_ceiling(provider, monkeypatch):
    # unlock is for locked accounts; a pending one refused after too many failures is re-issued,
    # and its failures go with the old credential
    import idp.signin
    monkeypatch.setattr(idp.signin, "NIST_MAX_CONSECUTIVE_FAILURES", 3)
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.create(tenant, username="ahli09", identity_type="member", temporary=True, phone="0123456789")
    for i in range(3):
        provider.store.delete("signin_throttle", "signin:kwsp:ahli09")
        provider.sign_in(tenant, "ahli09", "wrong guess here", f"203.0.113.{i}")
    assert provider.store.get("signin_ceiling", "signin:kwsp:ahli09") is not None
    provider.lifecycle.reissue(tenant, provider.accounts.find("kwsp", "ahli09"), actor="helpdesk:aminah")
    fresh = temporary_password(read_sms(provider)["text"])
    assert provider.sign_in(tenant, "ahli09", fresh, "198.51.100.7").reason == "activation"
