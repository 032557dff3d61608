"""Self-service recovery (issue 3, policy 6): "Lupa Kata Laluan" and "Lupa ID Pengguna"."""
import re
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.helpers import (PASSWORD, USER_ID_FOR_MANAGERS, authorize, basic, exchange, follow, interaction_uid, login,
                           make_user, open_reset_link, outbox, query, read_sms, register_client, submit_form)

NEW = "bunga raya kembang pagi"
IC = "800101-14-5679"


def open_flow(browser, tenant, name):
    start = browser.get(f"/t/{tenant}/account/{name}")
    assert start.status_code == 302
    return start.headers["Location"], browser.get(start.headers["Location"])


def tac_from(sms_text):
    return re.search(r"\b(\d{6})\b", sms_text).group(1)


def test_forgot_password_by_user_id_with_tac(provider, browser, rp, user):
    login(browser)  # a session in this browser, which the reset must end
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    assert b'name="code"' in code_page.data
    sms = read_sms(provider, "+60123456789")
    assert "TAC" in sms["text"] and "tetapan semula kata laluan" in sms["text"]
    password_page = submit_form(browser, code_page, url, code=tac_from(sms["text"]))
    assert b'name="new_password"' in password_page.data
    assert USER_ID_FOR_MANAGERS.format("ali") in password_page.get_data(as_text=True)  # the ID they typed
    done = submit_form(browser, password_page, url, new_password=NEW, confirm_password=NEW)
    assert done.status_code == 200 and "ditukar" in done.get_data(as_text=True)
    tenant = provider.tenants["kwsp"]
    assert provider.sign_in(tenant, "ali", NEW, None).account_id
    assert provider.sign_in(tenant, "ali", PASSWORD, None).account_id is None
    # the user is told, and their other sessions are over: a new authorization asks to sign in again
    assert "ditukar" in read_sms(provider, "+60123456789")["text"]
    assert authorize(browser).headers["Location"].startswith("/t/kwsp/interaction/")


def test_forgot_password_by_national_id_and_phone(provider, browser, rp):
    make_user(provider, username="siti", national_id=IC, phone="019-8765432")
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, national_id="800101145679", phone="+60 19-876 5432")
    assert b'name="code"' in code_page.data
    sms = read_sms(provider, "+60198765432")
    password_page = submit_form(browser, code_page, url, code=tac_from(sms["text"]))
    assert b'name="new_password"' in password_page.data
    # not in the page: by MyKad and phone, the user ID goes to the phone only (Lupa ID Pengguna)
    assert "siti" not in password_page.get_data(as_text=True)


def test_unknown_account_gets_the_same_page_and_no_sms(provider, browser, rp, user):
    url, page = open_flow(browser, "kwsp", "forgot_password")
    unknown = submit_form(browser, page, url, username="no-such-user")
    url2, page2 = open_flow(browser, "kwsp", "forgot_password")
    known = submit_form(browser, page2, url2, username="ali")
    assert unknown.status_code == known.status_code == 200
    assert b'name="code"' in unknown.data and b'name="code"' in known.data
    assert len(outbox(provider, "sms")) == 1  # only ali's
    # any code fails for the unknown one
    assert submit_form(browser, unknown, url, code="123456").status_code == 400


def _page_text(page):
    """The page without its per-request CSRF token."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page.get_data(as_text=True))


def test_an_account_without_a_phone_reads_like_no_account(provider, browser, rp):
    # only a user who proved who they are may learn that no number is on file (idp/tac.py: only where no identity was claimed)
    make_user(provider, username="tiada", phone=None)
    url, page = open_flow(browser, "kwsp", "forgot_password")
    no_phone = submit_form(browser, page, url, username="tiada")
    url2, page2 = open_flow(browser, "kwsp", "forgot_password")
    unknown = submit_form(browser, page2, url2, username="no-such-user")
    assert no_phone.status_code == unknown.status_code == 200
    assert _page_text(no_phone) == _page_text(unknown) and b'name="code"' in no_phone.data
    assert outbox(provider, "sms") == []


def test_three_wrong_codes_end_the_attempt(provider, browser, rp, user):
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    right = tac_from(read_sms(provider)["text"])
    wrong = "000000" if right != "000000" else "111111"
    for expected in ("tidak sah", "tidak sah", "Terlalu banyak"):
        last_form, code_page = code_page, submit_form(browser, code_page, url, code=wrong)
        assert expected in code_page.get_data(as_text=True)
    assert 'name="code"' not in code_page.get_data(as_text=True)
    # even the right code no longer works for this transaction
    assert "Terlalu banyak" in submit_form(browser, last_form, url, code=right).get_data(as_text=True)


def test_resend_within_cooldown_is_refused(provider, browser, rp, user):
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    again = submit_form(browser, code_page, url, resend="1")
    assert "tunggu" in again.get_data(as_text=True)
    assert len(outbox(provider, "sms")) == 1


def test_the_identify_form_posted_twice_shows_the_same_page(provider, browser):
    make_user(provider, tenant="kwap", username="staf03", identity_type="staff", email="staf03@klinik.example")
    url, page = open_flow(browser, "kwap", "forgot_password")
    first = submit_form(browser, page, url, username="staf03")
    again = submit_form(browser, page, url, username="staf03")  # a double click, or the back button
    assert again.status_code == 400 and "Semak emel anda" in again.get_data(as_text=True)
    assert browser.get(url).status_code == 200  # a reload
    assert len(outbox(provider, "email")) == 1 and first.status_code == 200  # one link, not one a page


def test_kwap_resets_by_emailed_link(provider, browser):
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username="staf01", identity_type="staff", email="staf01@klinik.example")
    url, page = open_flow(browser, "kwap", "forgot_password")
    info = submit_form(browser, page, url, username="staf01")
    assert info.status_code == 200 and b"emel" in info.data
    mail = outbox(provider, "email")[-1]
    assert mail["to"] == "staf01@klinik.example" and mail["subject"]
    link = re.search(r"(http://\S+/account/reset/\S+)", mail["text"]).group(1)
    path = link.replace("http://127.0.0.1:8000", "")
    link_page = browser.get(path)  # looking does not use it
    start = open_reset_link(browser, link)
    reset_url = start.headers["Location"]
    password_page = browser.get(reset_url)
    done = submit_form(browser, password_page, reset_url, new_password=NEW, confirm_password=NEW)
    assert done.status_code == 200
    assert provider.sign_in(provider.tenants["kwap"], "staf01", NEW, None).account_id
    # the link is single use
    assert browser.get(link.replace("http://127.0.0.1:8000", "")).status_code == 400
    assert submit_form(browser, link_page, path).status_code == 400  # its form sent again
    used = [(e.outcome, e.subject, e.detail["reason"]) for e in provider.audit.events("kwap", event="recovery.link_used")]
    account_id = provider.accounts.find("kwap", "staf01").id
    assert used == [("success", account_id, None), ("failure", None, "unknown_or_used")]


def test_forgot_user_id_sends_it_to_the_registered_phone(provider, browser, rp):
    make_user(provider, username="ahli-ic", national_id=IC, phone="0123456789")
    url, page = open_flow(browser, "kwsp", "forgot_username")
    done = submit_form(browser, page, url, national_id=IC, phone="012-3456789")
    assert done.status_code == 200
    assert "ahli-ic" in read_sms(provider, "+60123456789")["text"]
    # someone else's details: same page, nothing sent
    url, page = open_flow(browser, "kwsp", "forgot_username")
    other = submit_form(browser, page, url, national_id="900202-10-1234", phone="0171234567")
    assert other.status_code == 200 and other.get_data(as_text=True).split("<h1>")[1] == done.get_data(as_text=True).split("<h1>")[1]
    assert len(outbox(provider, "sms")) == 1


@pytest.mark.parametrize("flow", ["forgot_username", "forgot_password"])
@pytest.mark.parametrize("national_id, phone, told", [("abc", "0123456789", "12 digit"),
                                                      ("900101-14-5678", "xyz", "tidak sah"),
                                                      ("000000-00-0000", "0123456789", "12 digit")])
def test_details_that_cannot_be_anyones_are_told_so_and_spend_nothing(provider, browser, rp, flow, national_id,
                                                                      phone, told):
    make_user(provider, username="ahli-ic", national_id=IC, phone="0123456789")
    url, page = open_flow(browser, "kwsp", flow)
    refused = submit_form(browser, page, url, national_id=national_id, phone=phone)
    assert refused.status_code == 400 and told in refused.get_data(as_text=True)
    # the number's cooldown is not spent on the typo: the right details go through at once
    done = submit_form(browser, refused, url, national_id=IC.replace("-", " "), phone="012 345 6789")
    assert done.status_code in (200, 303) and read_sms(provider, "+60123456789")


def test_a_recovery_tac_page_does_not_say_the_code_went_out(provider, browser, rp, monkeypatch):
    tenant = provider.tenants["kwsp"]
    monkeypatch.setitem(provider.tenants, "kwsp", replace(tenant, tac=replace(tenant.tac, resend_cooldown=timedelta(0))))
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="nobody")
    assert "Jika maklumat yang dimasukkan sepadan" in code_page.get_data(as_text=True)
    resent = submit_form(browser, code_page, url, resend="1").get_data(as_text=True)
    assert "Jika maklumat yang dimasukkan sepadan dengan akaun berdaftar, TAC baharu telah dihantar" in resent


def test_forgot_user_id_limits_count_a_number_however_it_is_typed(provider, browser, rp):
    make_user(provider, username="ahli-ic", national_id=IC, phone="0123456789")
    pages = []
    for phone in ("012-3456789", "+60 12-345 6789", "60123456789"):
        url, page = open_flow(browser, "kwsp", "forgot_username")
        pages.append(submit_form(browser, page, url, national_id=IC, phone=phone).get_data(as_text=True))
    assert len(outbox(provider, "sms")) == 1
    assert all("Sila tunggu" in page for page in pages[1:])
    tries = [(e.outcome, e.detail["reason"]) for e in provider.audit.events("kwsp", event="recovery.username")]
    assert tries == [("success", None), ("failure", "cooldown"), ("failure", "cooldown")]


def test_a_stranger_who_spends_a_numbers_day_is_undone_by_the_helpdesk(provider, app, rp, monkeypatch):
    # anyone who knows the number can spend its day of user IDs (any MyKad will do); the page says
    # so in its own words, not a TAC's, and the helpdesk's clear-tac gives the owner their day back
    tenant = provider.tenants["kwsp"]
    monkeypatch.setitem(provider.tenants, "kwsp", replace(tenant, tac=replace(tenant.tac, resend_cooldown=timedelta(0))))
    make_user(provider, username="ahli-ic", national_id=IC, phone="0123456789")
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(tenant.tac.daily_cap):
        url, page = open_flow(stranger, "kwsp", "forgot_username")
        submit_form(stranger, page, url, national_id="900202-10-1234", phone="0123456789")
    url, page = open_flow(owner, "kwsp", "forgot_username")
    refused = submit_form(owner, page, url, national_id=IC, phone="0123456789").get_data(as_text=True)
    assert "Had harian untuk nombor ini" in refused and "TAC" not in refused.split("<main")[1]
    assert outbox(provider, "sms") == []
    provider.lifecycle.clear_tac(provider.tenants["kwsp"], provider.accounts.find("kwsp", "ahli-ic"), actor="helpdesk")
    url, page = open_flow(owner, "kwsp", "forgot_username")
    assert submit_form(owner, page, url, national_id=IC, phone="0123456789").status_code == 200
    assert "ahli-ic" in read_sms(provider, "+60123456789")["text"]


def test_sign_in_page_links_to_recovery(provider, browser, rp):
    page = follow(browser, authorize(browser))
    html = page.get_data(as_text=True)
    assert "Lupa Kata Laluan" in html and "Lupa ID Pengguna" in html and "Pengaktifan i-Akaun" in html


def _notice_after_identify(browser, username):
    url, page = open_flow(browser, "kwsp", "forgot_password")
    return submit_form(browser, page, url, username=username).get_data(as_text=True)


def _held_back(provider, reason="daily_cap"):
    """How many recovery TACs were silently not sent for this reason."""
    return [e.detail["reason"] for e in provider.audit.events("kwsp", event="recovery.tac_refused")].count(reason)


def test_the_daily_cap_reads_like_any_tac_page(provider, browser, rp, user):
    # a recovery never says the cap is reached: the page would tell that the claim is an account's
    cap = provider.tenants["kwsp"].tac.daily_cap
    for _ in range(cap + 2):
        known, unknown = _notice_after_identify(browser, "ali"), _notice_after_identify(browser, "No-Such-User ")
        assert "harian" not in known and "harian" not in unknown and 'name="code"' in known
    assert len(outbox(provider, "sms")) == cap  # the rest silently held back
    assert _held_back(provider) == 4  # ali's two, and no-such-user's two


def test_the_daily_cap_does_not_tell_which_user_id_has_a_mykad_and_number(provider, browser, rp, user):
    # the account's cap, run up by its MyKad and number, is shared with its user ID: a refusal
    # aloud for that user ID alone would name it
    make_user(provider, username="siti", national_id=IC, phone="019-8765432")
    for _ in range(provider.tenants["kwsp"].tac.daily_cap):
        url, page = open_flow(browser, "kwsp", "forgot_password")
        submit_form(browser, page, url, national_id=IC, phone="019-8765432")
    pages = {name: _notice_after_identify(browser, name) for name in ("ali", "nobody1", "siti")}
    assert not any("harian" in page for page in pages.values())
    assert all('name="code"' in page for page in pages.values())
    assert _held_back(provider) == 1


def wrong_codes_up_to_the_ceiling(provider, browser, username="ali"):
    """Fresh recovery attempts, two wrong codes each, until the account's ceiling of failures."""
    from idp.tac import SUBJECT_FAILURE_CEILING
    failures = 0
    while failures < SUBJECT_FAILURE_CEILING:
        url, page = open_flow(browser, "kwsp", "forgot_password")
        code_page = submit_form(browser, page, url, username=username)
        right = tac_from(read_sms(provider)["text"])
        for _ in range(min(2, SUBJECT_FAILURE_CEILING - failures)):
            code_page = submit_form(browser, code_page, url, code="000000" if right != "000000" else "111111")
            failures += 1


def test_wrong_codes_across_new_attempts_reach_a_ceiling(provider, browser, rp, user):
    # a new attempt brings a fresh code and a fresh count of 3, but not past the account's ceiling
    wrong_codes_up_to_the_ceiling(provider, browser)
    sms_count = len(outbox(provider, "sms"))
    assert "harian" not in _notice_after_identify(browser, "ali")  # reads as ever, but ...
    assert len(outbox(provider, "sms")) == sms_count  # ... no new code today
    assert _held_back(provider, "too_many_failures") == 1


def test_recoveries_run_up_by_a_stranger_leave_the_owners_step_up_alone(provider, app, rp, user):
    # anyone who knows the user ID can spend its recovery TACs and wrong guesses for the day; the
    # owner, signed in, can still approve a transaction by TAC
    stranger = app.test_client()
    for _ in range(provider.tenants["kwsp"].tac.daily_cap):
        url, page = open_flow(stranger, "kwsp", "forgot_password")
        code_page = submit_form(stranger, page, url, username="ali")
        right = tac_from(read_sms(provider)["text"])
        for _ in range(2):
            submit_form(stranger, code_page, url, code="000000" if right != "000000" else "111111")
    assert _held_back(provider, "too_many_failures")  # the owner's recovery is blocked for today
    owner = app.test_client()
    login(owner)
    step_up = owner.get(authorize(owner, acr_values="urn:kwsp:acr:tac").headers["Location"])
    assert b'name="code"' in step_up.data and "harian" not in step_up.get_data(as_text=True)
    assert "TAC" in read_sms(provider)["text"]


def test_the_helpdesk_lifts_a_tac_block(provider, browser, rp, user, settings, monkeypatch):
    from idp.cli import main
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    wrong_codes_up_to_the_ceiling(provider, browser)
    sent = len(outbox(provider, "sms"))
    _notice_after_identify(browser, "ali")
    assert len(outbox(provider, "sms")) == sent  # held back
    assert main(["accounts", "clear-tac", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:aminah"]) == 0
    _notice_after_identify(browser, "ali")
    assert len(outbox(provider, "sms")) == sent + 1
    assert [e.actor for e in provider.audit.events("kwsp", event="tac.limits_cleared")] == ["helpdesk:aminah"]


def test_the_helpdesk_lifts_a_reached_daily_cap(provider, browser, rp, user, settings, monkeypatch):
    # a stranger spent the day's recovery TACs: after the helpdesk, the owner's code really goes out
    from idp.cli import main
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    for _ in range(provider.tenants["kwsp"].tac.daily_cap):
        _notice_after_identify(browser, "ali")
    sent = len(outbox(provider, "sms"))
    _notice_after_identify(browser, "ali")
    assert len(outbox(provider, "sms")) == sent and _held_back(provider) == 1
    assert main(["accounts", "clear-tac", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:1"]) == 0
    _notice_after_identify(browser, "ali")
    assert len(outbox(provider, "sms")) == sent + 1


def test_a_right_code_ends_the_run_of_failures(provider, browser, rp, user, monkeypatch):
    from idp import tac
    monkeypatch.setattr(tac, "SUBJECT_FAILURE_CEILING", 3)  # consecutive failures: 2, 2 and 2 stay under it
    for _ in range(3):
        url, page = open_flow(browser, "kwsp", "forgot_password")
        code_page = submit_form(browser, page, url, username="ali")
        assert "harian" not in code_page.get_data(as_text=True)
        right = tac_from(read_sms(provider)["text"])
        for _ in range(2):
            code_page = submit_form(browser, code_page, url, code="000000" if right != "000000" else "111111")
        assert b'name="new_password"' in submit_form(browser, code_page, url, code=right).data


def test_the_way_back_to_the_sign_in_works_after_a_self_service_flow(provider, browser, rp):
    make_user(provider, username="siti", national_id=IC, phone="019-8765432")
    login_url = authorize(browser).headers["Location"]
    browser.get(login_url)
    uid = interaction_uid(login_url)
    url = browser.get(f"/t/kwsp/account/forgot_username?from={uid}").headers["Location"]
    done = submit_form(browser, browser.get(url), url, national_id="800101-14-5679", phone="019-8765432")
    back = re.search(r'href="(/t/kwsp/interaction/[^"]+)"', done.get_data(as_text=True)).group(1)
    assert back == login_url
    again = browser.get(back)
    assert again.status_code == 200 and b'name="password"' in again.data  # the sign-in, still going


def test_a_back_link_to_a_sign_in_this_browser_does_not_hold_is_not_offered(provider, app, rp, user):
    victim, attacker = app.test_client(), app.test_client()
    uid = interaction_uid(authorize(victim).headers["Location"])
    url = attacker.get(f"/t/kwsp/account/forgot_username?from={uid}").headers["Location"]
    done = submit_form(attacker, attacker.get(url), url, national_id="800101-14-5679", phone="019-8765432")
    assert uid not in done.get_data(as_text=True)
    assert attacker.get(f"/t/kwsp/interaction/{uid}").status_code != 200  # not bound to the attacker


def test_opening_a_reset_link_does_not_use_it(provider, browser, rp):
    # mail scanners fetch links: only the page's own form (with its CSRF token) uses the link
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username="staf02", identity_type="staff", email="staf02@klinik.example")
    url, page = open_flow(browser, "kwap", "forgot_password")
    submit_form(browser, page, url, username="staf02")
    link = re.search(r"(http://\S+/account/reset/\S+)", outbox(provider, "email")[-1]["text"]).group(1)
    path = link.replace("http://127.0.0.1:8000", "")
    for _ in range(2):
        looked = browser.get(path)
        assert looked.status_code == 200 and b'name="csrf_token"' in looked.data and "Location" not in looked.headers
    assert browser.post(path, data={"csrf_token": "forged"}).status_code == 200  # asks again, link unspent
    used = open_reset_link(browser, link)
    assert used.status_code in (302, 303) and "/interaction/" in used.headers["Location"]
    assert browser.get(path).status_code == 400  # now spent


def test_spellings_of_a_user_id_count_alike_for_known_and_unknown(provider, browser, rp, user):
    # the claimed identity is normalised as the account look-up is: case and outer spaces fold,
    # an inner space makes another name, for real accounts and for no account alike
    cap = provider.tenants["kwsp"].tac.daily_cap
    for held, name in enumerate(("ali", "nobody1"), start=1):
        for _ in range(cap):
            _notice_after_identify(browser, name)
        _notice_after_identify(browser, f" {name.upper()} ")
        assert _held_back(provider) == held
        _notice_after_identify(browser, f"{name[:2]} {name[2:]}")
        assert _held_back(provider) == held


def test_national_id_and_phone_spellings_count_as_one(provider, browser, rp):
    def identify(ic, phone):
        url, page = open_flow(browser, "kwsp", "forgot_password")
        return submit_form(browser, page, url, national_id=ic, phone=phone).get_data(as_text=True)
    cap = provider.tenants["kwsp"].tac.daily_cap
    for _ in range(cap):
        identify("800101-14-5679", "019-8765432")  # no such account
    identify("800101145679", "+60 19-876 5432")
    assert _held_back(provider) == 1


def test_recoveries_and_phone_changes_count_a_number_apart(provider, browser, rp):
    # a signed-in phone change says aloud when a number's daily cap is reached; were recoveries
    # counted with it, a phone change right after a recovery by MyKad and number would tell
    # whether that MyKad has that number (others can bring the count to the brink beforehand)
    from idp.tac import TacService
    make_user(provider, username="siti", national_id=IC, phone="019-8765432")
    tenant, tac = provider.tenants["kwsp"], TacService(provider)
    others = [provider.accounts.get("kwsp", make_user(provider, username=f"other{n}")["id"])
              for n in range(tenant.tac.daily_cap + 1)]
    for n, other in enumerate(others[:-2]):  # the phone-change count at the cap, less one
        assert tac.send(tenant, other, "phone_new", f"kwsp:phone_new:{n}:", "ms", to="+60198765432") == "sent"
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, national_id=IC, phone="019-8765432")
    assert b'name="code"' in code_page.data and read_sms(provider, "+60198765432")["text"].count("TAC")
    probe = lambda n: tac.send(tenant, others[n], "phone_new", f"kwsp:probe:{n}:", "ms", to="+60198765432")
    assert probe(-2) == "sent"  # the last one under the cap: the recovery did not count here
    assert probe(-1) == "daily_cap"

def test_a_double_click_on_the_right_tac_goes_on_once(provider, app, rp, user):
    # both clicks carry the same page; the second waits for the first and then sees the next
    # step, instead of running the stage again (the TAC refused as used, the plan's progress lost)
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier
    first = app.test_client()
    url, page = open_flow(first, "kwsp", "forgot_password")
    code_page = submit_form(first, page, url, username="ali")
    fields = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', code_page.get_data(as_text=True)).group(1),
              "stage": re.search(r'name="stage" value="(\d+)"', code_page.get_data(as_text=True)).group(1),
              "code": tac_from(read_sms(provider)["text"])}
    second = app.test_client()
    second.set_cookie("idp_interaction", first.get_cookie("idp_interaction", path="/t/kwsp").value, path="/t/kwsp")
    together = Barrier(2)

    def click(browser):
        together.wait()
        return browser.post(url, data=fields)

    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(click, (first, second)))
    assert [p.status_code for p in pages] == [200, 200]
    assert all(b'name="new_password"' in p.data for p in pages)  # both see the next step
    assert not [e for e in provider.audit.events("kwsp") if e.event == "tac.failed"]


def test_a_form_of_a_step_already_passed_shows_the_current_step(provider, browser, rp, user):
    # the back button, or the second of a double click once the first has gone on
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    stage = re.search(r'name="stage" value="(\d+)"', page.get_data(as_text=True)).group(1)
    again = submit_form(browser, page, url, username="someone-else", stage=stage)  # the identify form, again
    assert again.status_code == 200 and b'name="code"' in again.data and "Langkah ini" in again.get_data(as_text=True)
    assert [e.event for e in provider.audit.events("kwsp") if e.event == "recovery.started"] == ["recovery.started"]
    assert b'name="code"' in code_page.data


def _reset_links(provider, browser, count):
    """Ask for a reset link `count` times for staf02 (kwap mails them); the links that went out."""
    for _ in range(count):
        url, page = open_flow(browser, "kwap", "forgot_password")
        sent = submit_form(browser, page, url, username="staf02")
        assert "emel berdaftar" in sent.get_data(as_text=True)  # the page reads alike, limited or not
    return [re.search(r"(http://\S+/account/reset/\S+)", m["text"]).group(1) for m in outbox(provider, "email")
            if m["to"] == "staf02@klinik.example" and "/account/reset/" in m["text"]]


@pytest.fixture
def without_cooldown(provider, monkeypatch):
    """kwap with no wait between codes or links, to ask for several in a row."""
    tenant = provider.tenants["kwap"]
    monkeypatch.setitem(provider.tenants, "kwap", replace(tenant, tac=replace(tenant.tac, resend_cooldown=timedelta(0))))


def _staff_with_email(provider):
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username="staf02", identity_type="staff", email="staf02@klinik.example")


def test_reset_links_have_the_tac_cooldown(provider, browser, rp):
    # anyone who knows a user ID can start its recovery: its mailbox must not be flooded
    _staff_with_email(provider)
    assert len(_reset_links(provider, browser, 3)) == 1
    refused = provider.audit.events("kwap", event="recovery.link_refused")
    assert [e.detail["reason"] for e in refused] == ["cooldown"] * 2


def test_reset_links_have_the_tac_daily_cap(provider, browser, rp, without_cooldown, settings, monkeypatch):
    from idp.cli import main
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    _staff_with_email(provider)
    cap = provider.tenants["kwap"].tac.daily_cap
    assert len(_reset_links(provider, browser, cap + 3)) == cap
    refused = provider.audit.events("kwap", event="recovery.link_refused")
    assert [e.detail["reason"] for e in refused] == ["daily_cap"] * 3
    # the helpdesk, having checked who is calling, lifts it with the TAC count
    assert main(["accounts", "clear-tac", "--tenant", "kwap", "--username", "staf02", "--actor", "helpdesk:1"]) == 0
    assert len(_reset_links(provider, browser, 1)) == cap + 1


def test_a_new_password_ends_every_other_reset_link(provider, browser, rp, without_cooldown):
    _staff_with_email(provider)
    first, second, third = _reset_links(provider, browser, 3)
    url = open_reset_link(browser, first).headers["Location"]
    submit_form(browser, browser.get(url), url, new_password=NEW, confirm_password=NEW)
    assert provider.sign_in(provider.tenants["kwap"], "staf02", NEW, None).account_id
    for link in (second, third):
        assert browser.get(link.replace("http://127.0.0.1:8000", "")).status_code == 400


def _offline_grant(app, tenant="kwsp", username="ali"):
    """A taker's offline_access grant, from their own browser: its refresh token."""
    taker = app.test_client()
    code = login(taker, tenant=tenant, username=username, scope="openid offline_access")["code"]
    return taker, exchange(taker, code, tenant=tenant).json["refresh_token"]


def _refreshes(browser, tenant, token):
    data = {"grant_type": "refresh_token", "refresh_token": token}
    return browser.post(f"/t/{tenant}/token", data=data, headers=basic()).status_code == 200


def test_a_reset_by_tac_ends_offline_grants(provider, app, browser, rp, user):
    # the owner's remedy after a takeover (ASVS 7.4.3): the taker's offline grant ends with it
    taker, token = _offline_grant(app)
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    password_page = submit_form(browser, code_page, url, code=tac_from(read_sms(provider, "+60123456789")["text"]))
    assert submit_form(browser, password_page, url, new_password=NEW, confirm_password=NEW).status_code == 200
    assert not _refreshes(taker, "kwsp", token)
    assert [e.detail["reason"] for e in provider.audit.events("kwsp", event="grant.revoked")] == ["recovery"]


def test_a_store_failing_after_the_new_password_leaves_no_takers_session_or_grant(provider, app, browser, rp, user,
                                                                                 monkeypatch):
    # the store goes down right after the new password is written: "try again" for the owner,
    # and what the old password opened is already over (fail closed)
    import redis
    taker, token = _offline_grant(app)
    session_bound = exchange(taker, query(authorize(taker).headers["Location"])["code"]).json["refresh_token"]
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    password_page = submit_form(browser, code_page, url, code=tac_from(read_sms(provider, "+60123456789")["text"]))
    update = provider.accounts.update

    def update_then_fail(*args, **kwargs):
        update(*args, **kwargs)
        raise redis.exceptions.ConnectionError("the store went away")
    monkeypatch.setattr(provider.accounts, "update", update_then_fail)
    assert submit_form(browser, password_page, url, new_password=NEW, confirm_password=NEW).status_code == 503
    monkeypatch.undo()
    assert provider.sign_in(provider.tenants["kwsp"], "ali", NEW, None).account_id  # the password did change
    assert not _refreshes(taker, "kwsp", token) and not _refreshes(taker, "kwsp", session_bound)
    assert "code=" not in authorize(taker, prompt="none").headers["Location"]  # the taker's session too


def test_a_reset_by_emailed_link_ends_offline_grants(provider, app, browser):
    _staff_with_email(provider)
    taker, token = _offline_grant(app, tenant="kwap", username="staf02")
    link, = _reset_links(provider, browser, 1)
    url = open_reset_link(browser, link).headers["Location"]
    assert submit_form(browser, browser.get(url), url, new_password=NEW, confirm_password=NEW).status_code == 200
    assert not _refreshes(taker, "kwap", token)


def test_a_reset_in_progress_stops_when_the_helpdesk_deactivates_the_account(provider, browser, rp, user):
    tenant = provider.tenants["kwsp"]
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")
    code = tac_from(read_sms(provider, "+60123456789")["text"])
    password_page = submit_form(browser, code_page, url, code=code)
    provider.lifecycle.deactivate(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")  # a takeover?
    refused = submit_form(browser, password_page, url, new_password=NEW, confirm_password=NEW)
    assert refused.status_code == 400 and "kaunter KWSP" in refused.get_data(as_text=True)
    provider.lifecycle.reactivate(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    assert provider.sign_in(tenant, "ali", PASSWORD, None).account_id  # the password stayed


def test_a_deactivated_account_gets_no_tac_for_a_recovery_it_started_before(provider, browser, rp, user,
                                                                           monkeypatch):
    tenant = provider.tenants["kwsp"]
    monkeypatch.setitem(provider.tenants, "kwsp", replace(tenant, tac=replace(tenant.tac, resend_cooldown=timedelta(0))))
    url, page = open_flow(browser, "kwsp", "forgot_password")
    code_page = submit_form(browser, page, url, username="ali")  # identified while active
    assert len(outbox(provider, "sms")) == 1
    provider.lifecycle.deactivate(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    resent = submit_form(browser, code_page, url, resend="1")
    assert "TAC baharu telah dihantar" in resent.get_data(as_text=True)  # reads as for any ID
    assert len(outbox(provider, "sms")) == 1


def test_a_reset_link_stops_when_the_helpdesk_deactivates_the_account(provider, browser):
    _staff_with_email(provider)
    link, = _reset_links(provider, browser, 1)
    url = open_reset_link(browser, link).headers["Location"]  # redeemed while active
    tenant = provider.tenants["kwap"]
    provider.lifecycle.deactivate(tenant, provider.accounts.find("kwap", "staf02"), actor="helpdesk:1")
    refused = submit_form(browser, browser.get(url), url, new_password=NEW, confirm_password=NEW)
    assert refused.status_code == 400
    assert provider.sign_in(tenant, "staf02", NEW, None).reason != "ok"
    assert not provider.passwords.verify("kwap", provider.accounts.find("kwap", "staf02").password_hash, NEW)


def _store_work(provider, monkeypatch, run):
    """The ephemeral-store calls (method and kind), account reads and audit records `run` makes."""
    calls, store = [], provider.store
    for name in ("get", "put", "replace", "consume", "delete", "incr"):
        def recording(*args, _name=name, _original=getattr(store, name), **kwargs):
            kind = args[0] if _name != "incr" else args[0].split(":")[0]
            calls.append((_name, kind))
            return _original(*args, **kwargs)
        monkeypatch.setattr(store, name, recording)
    record, read = provider.audit.record, provider.accounts.get
    monkeypatch.setattr(provider.audit, "record", lambda *a, **k: calls.append(("audit",)) or record(*a, **k))
    monkeypatch.setattr(provider.accounts, "get", lambda *a: calls.append(("account",)) or read(*a))
    run()
    monkeypatch.undo()
    return calls


@pytest.mark.parametrize("tenant, username, identity_type", [("kwsp", "ali", "member"), ("kwap", "staf01", "staff")])
def test_recovery_does_the_same_store_work_whether_or_not_the_id_exists(provider, browser, monkeypatch, tenant,
                                                                         username, identity_type):
    # what the page's time could tell (ASVS 6.3.8): the same calls, so nearly the same time
    make_user(provider, tenant=tenant, username=username, identity_type=identity_type,
              email=f"{username}@example.com", phone="012-3456789")

    def recovery(name):
        url, page = open_flow(browser, tenant, "forgot_password")
        return lambda: submit_form(browser, page, url, username=name)
    known = _store_work(provider, monkeypatch, recovery(username))
    unknown = _store_work(provider, monkeypatch, recovery("nobody-" + username))
    assert known == unknown
    assert ("incr", "tac_day_phone") in known or ("put", "reset_link") in known  # it did send


def test_no_reset_link_goes_to_an_account_deactivated_after_it_was_identified(app, provider, browser, monkeypatch):
    _staff_with_email(provider)
    self_service = app.extensions["flows"].accounts
    tenant, find = provider.tenants["kwap"], self_service.find_for_recovery

    def deactivated_right_after(*args, **kwargs):
        found = find(*args, **kwargs)
        provider.lifecycle.deactivate(tenant, provider.accounts.find("kwap", "staf02"), actor="helpdesk:1")
        return found
    monkeypatch.setattr(self_service, "find_for_recovery", deactivated_right_after)
    url, page = open_flow(browser, "kwap", "forgot_password")
    assert "emel berdaftar" in submit_form(browser, page, url, username="staf02").get_data(as_text=True)
    assert not [m for m in outbox(provider, "email") if "/account/reset/" in m["text"]]


def test_forgot_user_id_does_the_same_store_work_whether_or_not_the_details_match(provider, browser, monkeypatch):
    make_user(provider, username="ahli-ic", national_id=IC, phone="0123456789")

    def forgot(national_id, phone):
        url, page = open_flow(browser, "kwsp", "forgot_username")
        return lambda: submit_form(browser, page, url, national_id=national_id, phone=phone)
    known = _store_work(provider, monkeypatch, forgot(IC, "0123456789"))
    unknown = _store_work(provider, monkeypatch, forgot("900202-10-1234", "0171234567"))  # nobody's
    assert known == unknown and ("account",) in known


def test_an_account_past_its_wrong_code_ceiling_answers_as_no_account_does(app, provider, rp):
    # the ceiling is the account's, whichever claim named it: a "too many" at the first wrong code
    # under a MyKad and number would tell that they belong to the user ID that ran it up
    make_user(provider, username="siti", national_id="800101-14-5679", phone="019-8765432")

    def wrong_codes(n, **claim):
        browser = app.test_client()
        url, page = open_flow(browser, "kwsp", "forgot_password")
        page = submit_form(browser, page, url, **claim)
        answers = []
        for _ in range(n):
            page = submit_form(browser, page, url, code="000000")
            answers.append(re.sub(r"/interaction/[\w-]+|from=[\w-]+", "", _page_text(page)).replace(
                claim.get("national_id", ""), ""))
        return answers
    for claim in ({"username": "siti"}, {"username": "no-such-user"}):
        for _ in range(4):  # 3 wrong codes a transaction, 12 in all: past the 10 a day
            wrong_codes(3, **claim)
    matching = wrong_codes(3, national_id="800101-14-5679", phone="019-8765432")
    other = wrong_codes(3, national_id="800101-14-5680", phone="019-8765432")
    assert matching == other
    assert "TAC tidak sah" in matching[0]
