"""The authenticator app (TOTP) as the non-SMS alternative (issue 4, item 5)."""
import dataclasses
import json
import re
import time

import pyotp

from tests.helpers import (PASSWORD, authorize, exchange, follow, jwt_claims, login, make_user, outbox, query,
                           read_sms, submit_form)

TAC = "urn:kwsp:acr:tac"


def enrol(browser, provider):
    """Password, then a TAC to the registered number, then the QR code."""
    start = browser.get("/t/kwsp/account/totp_enrol")
    url = start.headers["Location"]
    tac_page = submit_form(browser, browser.get(url), url, password=PASSWORD)
    assert b'name="code"' in tac_page.data and b"data:image/svg+xml" not in tac_page.data
    sms = read_sms(provider)
    assert "authenticator" in sms["text"] or "pengesah" in sms["text"]
    page = submit_form(browser, tac_page, url, code=re.search(r"\b(\d{6})\b", sms["text"]).group(1))
    html = page.get_data(as_text=True)
    assert "data:image/svg+xml" in html
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", html).group(1)
    return url, page, secret


def test_enrol_requires_a_signed_in_user(browser, rp, user):
    assert browser.get("/t/kwsp/account/totp_enrol").status_code == 401


def test_enrolment_without_a_registered_number_says_so(provider, browser, rp):
    make_user(provider, phone=None)
    login(browser)
    start = browser.get("/t/kwsp/account/totp_enrol")
    url = start.headers["Location"]
    password_page = browser.get(url)
    page = submit_form(browser, password_page, url, password=PASSWORD)
    assert "Tiada nombor telefon bimbit berdaftar" in page.get_data(as_text=True)
    assert b'name="code"' not in page.data  # nothing to enter: the helpdesk must add a number
    assert outbox(provider, "sms") == []
    refused = submit_form(browser, password_page, url, code="123456")  # a code posted anyway
    assert refused.status_code == 400 and "data:image/svg+xml" not in refused.get_data(as_text=True)
    for again in (refused, browser.get(url)):  # and a reload: still no code form, nothing counted
        assert "Tiada nombor telefon bimbit berdaftar" in again.get_data(as_text=True)
        assert b'name="code"' not in again.data
    assert not [e for e in provider.audit.events("kwsp") if e.event == "tac.sent"]


def test_enrolment_proves_the_code_and_gives_ten_recovery_codes(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    wrong = submit_form(browser, page, url, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    assert wrong.status_code == 400 and provider.accounts.find("kwsp", "ali").totp_secret is None
    codes_page = submit_form(browser, wrong, url, code=pyotp.TOTP(secret).now())
    codes = re.findall(r"<code>([0-9A-F]{4}-[0-9A-F]{4})</code>", codes_page.get_data(as_text=True))
    assert len(set(codes)) == 10
    account = provider.accounts.find("kwsp", "ali")
    assert account.totp_secret and secret not in account.totp_secret  # sealed at rest
    # 32 bits each: kept as passwords are, salted argon2id (ASVS 6.5.2), none in the clear
    stored = account.totp_recovery_codes
    assert all(h.startswith("$argon2id$") for h in stored) and len({h.split("$")[4] for h in stored}) == 10
    assert not any(code in h for code in codes for h in stored)
    assert submit_form(browser, codes_page, url).status_code == 200
    assert any(e.event == "totp.enrolled" for e in provider.audit.events("kwsp", subject=account.id))


def step_up_with(browser, code):
    start = authorize(browser, acr_values=TAC, authorization_details=json.dumps(
        [{"type": "kwsp_withdrawal", "amount": "100", "account": "A-1"}]))
    url = start.headers["Location"]
    page = browser.get(url)
    assert b'name="code"' in page.data
    return follow(browser, submit_form(browser, page, url, code=code))


def test_totp_in_place_of_the_sms_tac(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    sms_before = len(outbox(provider, "sms"))
    done = step_up_with(browser, pyotp.TOTP(secret).now())
    tokens = exchange(browser, query(done.headers["Location"])["code"]).json
    claims = jwt_claims(tokens["id_token"])
    assert claims["acr"] == TAC and "otp" in claims["amr"] and "sms" not in claims["amr"]
    assert len(outbox(provider, "sms")) == sms_before  # no TAC was sent (the enrolment notice came earlier)


def test_a_recovery_code_works_once(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    codes_page = submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    code = re.findall(r"<code>([0-9A-F]{4}-[0-9A-F]{4})</code>", codes_page.get_data(as_text=True))[0]
    # the page's field takes it as a browser would let it be typed, and says it may be given
    page = browser.get(authorize(browser, acr_values=TAC, authorization_details=json.dumps(
        [{"type": "kwsp_withdrawal", "amount": "100", "account": "A-1"}])).headers["Location"]).get_data(as_text=True)
    field = re.search(r'<input [^>]*name="code"[^>]*>', page).group(0)
    assert int(re.search(r'maxlength="(\d+)"', field).group(1)) >= len(code) and 'inputmode="numeric"' not in field
    assert "Kod Pemulihan" in page
    done = step_up_with(browser, code.lower())  # as typed, in any case
    assert done.headers["Location"].startswith("https://rp.example/cb")
    again = step_up_with(browser, code)
    assert again.status_code == 400


def test_tenant_may_refuse_totp_for_the_tac_step_up(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    kwsp = provider.tenants["kwsp"]
    provider.tenants["kwsp"] = dataclasses.replace(kwsp, tac=dataclasses.replace(kwsp.tac, totp_satisfies=False))
    start = authorize(browser, acr_values=TAC)
    page = browser.get(start.headers["Location"])
    assert "SMS" in page.get_data(as_text=True)
    assert "TAC" in outbox(provider, "sms")[-1]["text"]


def test_removal_needs_the_password_and_a_current_code(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    start = browser.get("/t/kwsp/account/totp_remove")
    url = start.headers["Location"]
    wrong_password = submit_form(browser, browser.get(url), url, password="not my password at all")
    assert wrong_password.status_code == 400
    code_page = submit_form(browser, wrong_password, url, password=PASSWORD)
    assert b'name="code"' in code_page.data
    confirm = submit_form(browser, code_page, url, code=pyotp.TOTP(secret).now())
    done = submit_form(browser, confirm, url)
    assert done.status_code == 200
    assert provider.accounts.find("kwsp", "ali").totp_secret is None


def test_enrolment_needs_the_tac_not_just_the_password(provider, browser, rp, user):
    # else a stolen password could bind the thief's authenticator, which then stands in for the TAC
    login(browser)
    url = browser.get("/t/kwsp/account/totp_enrol").headers["Location"]
    tac_page = submit_form(browser, browser.get(url), url, password=PASSWORD)
    assert b'name="code"' in tac_page.data and b"data:image/svg+xml" not in tac_page.data
    wrong = submit_form(browser, tac_page, url, code="000000")
    assert wrong.status_code == 400 and b"data:image/svg+xml" not in wrong.data
    assert provider.accounts.find("kwsp", "ali").totp_secret is None


def test_replacing_an_authenticator_needs_its_current_code(provider, browser, rp, user):
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, submit_form(browser, page, url, code=pyotp.TOTP(secret).now()), url)
    again = browser.get("/t/kwsp/account/totp_enrol").headers["Location"]
    asked = submit_form(browser, browser.get(again), again, password=PASSWORD)
    assert b'name="code"' in asked.data and b"SMS" not in asked.data  # the authenticator's code first
    sms_count = len(outbox(provider, "sms"))
    assert submit_form(browser, asked, again, code="000000").status_code == 400
    assert len(outbox(provider, "sms")) == sms_count  # no TAC before the current code


def test_an_authenticator_enrolled_while_a_tac_step_up_waits_does_not_skip_it(provider, browser, rp, user):
    login(browser)
    start = authorize(browser, acr_values=TAC, authorization_details=json.dumps(
        [{"type": "kwsp_withdrawal", "amount": "100", "account": "A-1"}]))
    step_up_url = start.headers["Location"]
    assert b'name="code"' in browser.get(step_up_url).data  # the TAC page; the SMS went out
    step_up_cookie = browser.get_cookie("idp_interaction", path="/t/kwsp").value
    url, page, secret = enrol(browser, provider)
    submit_form(browser, submit_form(browser, page, url, code=pyotp.TOTP(secret).now()), url)
    browser.set_cookie("idp_interaction", step_up_cookie, path="/t/kwsp")  # back to the step-up tab
    again = browser.get(step_up_url)
    assert again.status_code == 200 and b'name="code"' in again.data  # still the TAC, not done
    assert "Location" not in again.headers


def _enrolled(provider, browser):
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, submit_form(browser, page, url, code=pyotp.TOTP(secret).now()), url)
    return provider.accounts.find("kwsp", "ali"), pyotp.TOTP(secret)


def _wrong(totp):
    return next(c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=1))


def test_authenticator_codes_are_rate_limited(provider, browser, rp, user):
    from idp import self_service
    account, totp = _enrolled(provider, browser)
    service, tenant = self_service.SelfService(provider), provider.tenants["kwsp"]
    for _ in range(self_service.TOTP_TRIES):
        assert not service.verify_totp(tenant, account.id, _wrong(totp))
    assert not service.verify_totp(tenant, account.id, totp.now())  # even the right code, for now
    assert not service.verify_totp(tenant, account.id, "ABCD-1234")  # and recovery codes
    events = [e.event for e in provider.audit.events("kwsp", subject=account.id)]
    assert events.count("totp.failed") == self_service.TOTP_TRIES and "totp.refused" in events


def test_a_right_code_starts_the_count_again(provider, browser, rp, user, monkeypatch):
    from idp import self_service
    account, totp = _enrolled(provider, browser)
    service, tenant = self_service.SelfService(provider), provider.tenants["kwsp"]
    monkeypatch.setattr(self_service, "TOTP_TRIES", 3)
    for _ in range(2):
        assert not service.verify_totp(tenant, account.id, _wrong(totp))
    assert service.verify_totp(tenant, account.id, totp.now())
    for _ in range(2):
        assert not service.verify_totp(tenant, account.id, _wrong(totp))
    assert provider.store.incr(f"totp_tries:{account.id}", ttl=60) == 3  # 2 since the success, +1


def test_one_recovery_code_cannot_pass_twice_at_once(provider, browser, rp, user):
    # two requests that read the account before either wrote it back (read-modify-write)
    from idp.self_service import SelfService
    login(browser)
    url, page, secret = enrol(browser, provider)
    codes_page = submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    code = re.findall(r"<code>([0-9A-F]{4}-[0-9A-F]{4})</code>", codes_page.get_data(as_text=True))[0]
    service, tenant = SelfService(provider), provider.tenants["kwsp"]
    snapshot = provider.accounts.find("kwsp", "ali")
    assert service._use_recovery_code(tenant, snapshot, code) is True
    assert service._use_recovery_code(tenant, snapshot, code) is False
    assert len(provider.accounts.find("kwsp", "ali").totp_recovery_codes) == 9


def test_two_recovery_codes_used_at_once_both_stay_used(provider, browser, rp, user):
    # each use strikes its own code from the list as it is now, not from the account as read
    # before the other use wrote it back (which would bring the other code back to life)
    from idp.self_service import SelfService
    login(browser)
    url, page, secret = enrol(browser, provider)
    codes_page = submit_form(browser, page, url, code=pyotp.TOTP(secret).now())
    first, second = re.findall(r"<code>([0-9A-F]{4}-[0-9A-F]{4})</code>", codes_page.get_data(as_text=True))[:2]
    service, tenant = SelfService(provider), provider.tenants["kwsp"]
    snapshot = provider.accounts.find("kwsp", "ali")
    assert service._use_recovery_code(tenant, snapshot, first) is True
    assert service._use_recovery_code(tenant, snapshot, second) is True
    assert len(provider.accounts.find("kwsp", "ali").totp_recovery_codes) == 8
    assert service._use_recovery_code(tenant, snapshot, first) is False


def test_wrong_codes_in_a_row_meet_a_ceiling_the_helpdesk_lifts(provider, browser, rp, user, monkeypatch,
                                                                 settings):
    from idp import self_service
    from idp.cli import main
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    account, totp = _enrolled(provider, browser)
    service, tenant = self_service.SelfService(provider), provider.tenants["kwsp"]
    monkeypatch.setattr(self_service, "TOTP_FAILURE_CEILING", 4)
    for _ in range(3):
        assert not service.verify_totp(tenant, account.id, _wrong(totp))
    assert service.verify_totp(tenant, account.id, totp.now())  # a right one ends the run
    for _ in range(4):
        provider.store.delete("counter", f"totp_tries:{account.id}")  # as if 15 minutes went by each time
        assert not service.verify_totp(tenant, account.id, _wrong(totp))
    provider.store.delete("counter", f"totp_tries:{account.id}")
    assert not service.verify_totp(tenant, account.id, totp.now())  # the window is clear, the ceiling is not
    refused = provider.audit.events("kwsp", subject=account.id, event="totp.refused")
    assert [e.detail["reason"] for e in refused] == ["failure_ceiling"]
    assert main(["accounts", "clear-tac", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:1"]) == 0
    assert service.verify_totp(tenant, account.id, totp.at(time.time() + 30))  # a step not used yet


def _signed_in_elsewhere(app):
    other = app.test_client()
    login(other)
    return other


def _still_signed_in(browser):
    return "code" in query(authorize(browser, prompt="none").headers["Location"])


def test_enrolling_or_removing_an_authenticator_signs_out_every_other_browser(app, provider, browser, rp, user):
    # ASVS 7.4.3: a session someone else holds (a stolen cookie) ends; the owner's goes on
    elsewhere = _signed_in_elsewhere(app)
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, submit_form(browser, page, url, code=pyotp.TOTP(secret).now()), url)
    assert not _still_signed_in(elsewhere) and _still_signed_in(browser)
    ended = provider.audit.events("kwsp", event="session.ended")[-1]
    assert len(ended.detail["sids"]) == 1

    elsewhere = _signed_in_elsewhere(app)
    start = browser.get("/t/kwsp/account/totp_remove")
    url = start.headers["Location"]
    code_page = submit_form(browser, browser.get(url), url, password=PASSWORD)
    confirm = submit_form(browser, code_page, url, code=pyotp.TOTP(secret).now())
    submit_form(browser, confirm, url)
    assert provider.accounts.find("kwsp", "ali").totp_secret is None
    assert not _still_signed_in(elsewhere) and _still_signed_in(browser)


def test_a_recovery_code_kept_as_an_hmac_before_still_works_once(provider, browser, rp, user):
    import hashlib
    import hmac
    account, _ = _enrolled(provider, browser)
    legacy = hmac.new(provider.master, f"recovery:{account.id}:ABCD-1234".encode(), hashlib.sha256).hexdigest()
    provider.accounts.update("kwsp", account.id, totp_recovery_codes=[legacy])
    assert step_up_with(browser, "abcd-1234").headers["Location"].startswith("https://rp.example/cb")
    assert provider.accounts.find("kwsp", "ali").totp_recovery_codes == []


def test_a_used_code_does_not_pass_again_in_other_digits(provider, browser, rp, user):
    # ASVS 6.5.1: "１２３４５６" is 123456 to pyotp; it is not another code
    _, totp = _enrolled(provider, browser)
    code = totp.now()
    assert step_up_with(browser, code).headers["Location"].startswith("https://rp.example/cb")
    for spelling in (str.maketrans("0123456789", "０１２３４５６７８９"), str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")):
        assert step_up_with(browser, code.translate(spelling)).status_code == 400


def test_a_session_from_before_sessions_knew_their_key_ends_too(app, provider, browser, rp, user, monkeypatch):
    # such a session cannot be deleted by its key: its sid mark is, and it ends at its next use a
    # minute on (when load() checks the mark), its codes at once
    from idp import sessions
    from idp.oauth.subject import digest
    from tests.oidc.support import ShiftedClock
    elsewhere = _signed_in_elsewhere(app)
    key = digest(next(c.value for c in elsewhere._cookies.values() if c.key == "idp_session"))
    legacy = {k: v for k, v in provider.store.get("session", key).items() if k != "id"}
    provider.store.replace("session", key, legacy, 3600)
    pending = authorize(elsewhere)  # a code on its way: bound to the session's sid
    login(browser)
    url, page, secret = enrol(browser, provider)
    submit_form(browser, submit_form(browser, page, url, code=pyotp.TOTP(secret).now()), url)
    assert exchange(elsewhere, query(pending.headers["Location"])["code"]).status_code == 400
    monkeypatch.setattr(sessions, "time", ShiftedClock(61))
    assert not _still_signed_in(elsewhere) and _still_signed_in(browser)
