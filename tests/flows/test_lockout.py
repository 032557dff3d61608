"""Throttling and lockout (issue 3, policy 4): same answer for locked, unknown and wrong-password
accounts; the owner learns of the lock through their own channel; automatic and helpdesk unlock."""
import re
from datetime import datetime, timedelta, timezone

from tests.helpers import PASSWORD, authorize, follow, login, outbox, query, read_sms, submit_form
import idp.signin
from idp.signin import clear_failures


def attempt(browser, username, password):
    start = authorize(browser)
    url = start.headers["Location"]
    return follow(browser, submit_form(browser, browser.get(url), url, username=username, password=password))


def visible(response):
    """The page as the user sees it, less the per-form CSRF token and the typed name."""
    html = response.get_data(as_text=True).split("<h1>")[1].split("</form>")[0]
    return re.sub(r'value="[0-9a-f]{64}"', "", html).replace("nobody-here", "ali")


def fail(provider, username, times):
    tenant = provider.tenants["kwsp"]
    for _ in range(times):
        outcome = provider.sign_in(tenant, username, "wrong password here", "203.0.113.9")
        assert outcome.account_id is None


def test_attempt_9_keeps_the_account_and_attempt_10_locks_it(provider, user):
    fail(provider, "ali", 9)
    assert provider.accounts.find("kwsp", "ali").state == "active"
    fail(provider, "ali", 1)
    locked = provider.accounts.find("kwsp", "ali")
    assert locked.state == "locked"
    assert locked.locked_until > datetime.now(timezone.utc) + timedelta(minutes=14)
    notice = read_sms(provider, "+60123456789")
    assert "dikunci" in notice["text"]
    # the end of the lock on the user's clock (Malaysia, UTC+8), not UTC
    assert (locked.locked_until + timedelta(hours=8)).strftime("%H:%M %d/%m/%Y") in notice["text"]
    assert "UTC" not in notice["text"]
    assert any(e.event == "account.locked" for e in provider.audit.events("kwsp", subject=locked.id))


def test_locked_unknown_and_wrong_password_look_the_same(provider, browser, rp, user):
    fail(provider, "ali", 10)
    locked_right_password = attempt(browser, "ali", PASSWORD)
    unknown = attempt(browser, "nobody-here", "whatever password")
    assert locked_right_password.status_code == unknown.status_code == 400
    assert visible(locked_right_password) == visible(unknown)
    # only one notice, to the owner; nothing for the unknown name
    assert len(outbox(provider, "sms")) == 1


def test_a_lock_others_caused_leaves_the_owners_live_session_alone(provider, browser, rp, user):
    # ASVS 6.3.1: guessing a known user ID must not sign its owner out of what they hold
    login(browser)
    fail(provider, "ali", 10)
    assert provider.accounts.find("kwsp", "ali").state == "locked"
    assert "code" in query(authorize(browser, prompt="none").headers["Location"])  # SSO goes on
    assert browser.get("/t/kwsp/account/sessions").status_code == 302  # and so do the account pages
    fresh = attempt(browser.application.test_client(), "ali", PASSWORD)
    assert fresh.status_code == 400  # while a new password check is refused
    url = browser.get("/t/kwsp/account/password_update").headers["Location"]
    page = submit_form(browser, browser.get(url), url, current_password=PASSWORD, new_password="x" * 20,
                       confirm_password="x" * 20)
    # the signed-in owner is told of the lock, not that their right password is wrong
    assert page.status_code == 400 and "Akaun anda dikunci buat sementara" in page.get_data(as_text=True)


def test_growing_delay_refuses_even_the_right_password_for_a_moment(provider, user):
    fail(provider, "ali", 3)   # the third failure starts a 1 s delay
    outcome = provider.sign_in(provider.tenants["kwsp"], "ali", PASSWORD, "203.0.113.9")
    assert outcome.account_id is None and outcome.reason == "throttled"


def test_lock_lifts_by_itself(provider, user):
    fail(provider, "ali", 10)
    account = provider.accounts.find("kwsp", "ali")
    # the lock's time has passed: the store entry expired and locked_until is behind us
    provider.store.delete("signin_lock", "signin:kwsp:ali")
    provider.accounts.update("kwsp", account.id, locked_until=datetime.now(timezone.utc) - timedelta(seconds=1))
    outcome = provider.sign_in(provider.tenants["kwsp"], "ali", PASSWORD, "203.0.113.9")
    assert outcome.account_id == account.id
    assert provider.accounts.find("kwsp", "ali").state == "active"


def test_helpdesk_unlock(provider, user):
    fail(provider, "ali", 10)
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.unlock(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:siti")
    assert provider.sign_in(tenant, "ali", PASSWORD, "203.0.113.9").account_id
    events = [e for e in provider.audit.events("kwsp", event="account.active")]
    assert events[-1].actor == "helpdesk:siti" and events[-1].detail["reason"] == "helpdesk_unlock"


def test_success_resets_the_count(provider, user):
    tenant = provider.tenants["kwsp"]
    fail(provider, "ali", 2)
    assert provider.sign_in(tenant, "ali", PASSWORD, "203.0.113.9").account_id
    fail(provider, "ali", 2)
    clear_failures(provider, tenant, "ali")  # no delay pending
    assert provider.sign_in(tenant, "ali", PASSWORD, "203.0.113.9").account_id
    assert provider.accounts.find("kwsp", "ali").state == "active"


def _ceiling(monkeypatch, failures):
    """A smaller run-of-failures ceiling than NIST's 100, so a test can reach it quickly."""
    monkeypatch.setattr(idp.signin, "NIST_MAX_CONSECUTIVE_FAILURES", failures)


def _time_passes(provider):
    """The 15-minute lock and any delay are over (their store entries expired, locked_until past)."""
    provider.store.delete("signin_lock", "signin:kwsp:ali")
    provider.store.delete("signin_throttle", "signin:kwsp:ali")
    account = provider.accounts.find("kwsp", "ali")
    if account.state == "locked":
        provider.accounts.update("kwsp", account.id, locked_until=datetime.now(timezone.utc) - timedelta(seconds=1))


def test_temporary_locks_do_not_reset_the_run_of_failures(provider, user, monkeypatch):
    # NIST SP 800-63B rev. 4 3.2.2: at most 100 consecutive failures on one account (25 here)
    _ceiling(monkeypatch, 25)
    tenant = provider.tenants["kwsp"]
    for i in range(25):  # two temporary locks on the way, each lifted by time
        _time_passes(provider)
        assert provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}").account_id is None
    _time_passes(provider)
    assert provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.1").account_id is None  # still refused
    provider.lifecycle.unlock(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:siti")
    assert provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.1").account_id


def test_a_success_ends_the_run_of_failures(provider, user, monkeypatch):
    _ceiling(monkeypatch, 12)
    tenant = provider.tenants["kwsp"]
    for i in range(18):  # 6, a success, 6, a success, 6: never 12 in a row
        _time_passes(provider)
        if i % 6 == 5:
            assert provider.sign_in(tenant, "ali", PASSWORD, f"198.51.100.{i}").account_id
        else:
            provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}")
    _time_passes(provider)
    assert provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.99").account_id


def test_refused_attempts_do_not_run_up_the_ceiling(provider, user, monkeypatch):
    # while throttled or locked no password is compared: hammering the form guesses nothing
    _ceiling(monkeypatch, 25)
    tenant = provider.tenants["kwsp"]
    for i in range(60):  # no time passes: after 3 failures the rest are refused unchecked
        provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}")
    _time_passes(provider)
    assert provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.1").account_id


def test_the_ceiling_reached_while_locked_extends_the_lock(provider, user, monkeypatch):
    _ceiling(monkeypatch, 3)
    tenant = provider.tenants["kwsp"]
    account = provider.accounts.find("kwsp", "ali")
    provider.lifecycle.lock(tenant, account, datetime.now(timezone.utc) + timedelta(minutes=5))  # store lock gone
    for i in range(3):
        provider.store.delete("signin_throttle", "signin:kwsp:ali")
        assert provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}").account_id is None
    locked = provider.accounts.find("kwsp", "ali")
    assert locked.state == "locked" and locked.locked_until > datetime.now(timezone.utc) + timedelta(days=29)
    extended = provider.audit.events("kwsp", event="account.lock_extended")[-1]
    assert extended.subject == locked.id and extended.ip == "203.0.113.2"
    assert datetime.fromisoformat(extended.detail["locked_until"]) == locked.locked_until


def test_a_password_reset_lifts_the_ceiling_lock(provider, browser, rp, user, monkeypatch):
    _ceiling(monkeypatch, 3)
    tenant = provider.tenants["kwsp"]
    for i in range(3):
        _time_passes(provider)
        provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}")
    assert provider.accounts.find("kwsp", "ali").state == "locked"
    start = browser.get("/t/kwsp/account/forgot_password")
    url = start.headers["Location"]
    code_page = submit_form(browser, browser.get(url), url, username="ali")
    code = re.search(r"\b(\d{6})\b", read_sms(provider, "+60123456789")["text"]).group(1)
    password_page = submit_form(browser, code_page, url, code=code)
    new = "bunga raya kembang pagi"
    assert submit_form(browser, password_page, url, new_password=new, confirm_password=new).status_code == 200
    assert provider.sign_in(tenant, "ali", new, "198.51.100.1").account_id


def test_a_lock_decided_on_an_earlier_read_does_not_undo_a_deactivation(provider, user):
    # the 10th wrong password is checked (argon2, tens of ms) while the helpdesk deactivates:
    # the lock, decided on the account as read before, must not land on the deactivated account
    tenant = provider.tenants["kwsp"]
    read_before = provider.accounts.find("kwsp", "ali")
    provider.lifecycle.deactivate(tenant, read_before, actor="helpdesk:7")
    idp.signin._lock(provider, tenant, read_before, datetime.now(timezone.utc) + timedelta(minutes=15), None)
    assert provider.accounts.find("kwsp", "ali").state == "deactivated"
    events = [e.event for e in provider.audit.events("kwsp", subject=user["id"])]
    assert "account.deactivated" in events and "account.locked" not in events


def test_a_wrong_password_does_the_same_store_work_for_a_known_and_an_unknown_user_id(provider, user, monkeypatch):
    # ASVS 6.3.8: the run of failures is counted for an unknown user ID too
    from tests.flows.test_recovery import _store_work
    tenant = provider.tenants["kwsp"]
    known = _store_work(provider, monkeypatch, lambda: provider.sign_in(tenant, "ali", "wrong password 1", "10.0.0.1"))
    unknown = _store_work(provider, monkeypatch,
                          lambda: provider.sign_in(tenant, "nobody", "wrong password 1", "10.0.0.2"))
    assert known == unknown


def test_an_unknown_user_id_reaches_the_ceiling_as_a_known_one_does(provider, monkeypatch):
    # and reads alike there: refused as "locked", with no account to lock
    _ceiling(monkeypatch, 12)
    tenant = provider.tenants["kwsp"]
    for i in range(12):
        for kind in ("signin_lock", "signin_throttle"):  # time passes
            provider.store.delete(kind, "signin:kwsp:nobody")
        assert provider.sign_in(tenant, "nobody", "wrong password here", f"203.0.113.{i}").reason == "unknown_user"
    assert provider.sign_in(tenant, "nobody", "wrong password here", "198.51.100.1").reason == "locked"


def test_passwords_sent_side_by_side_past_the_threshold_are_not_compared(provider, user, monkeypatch):
    # each is numbered before it is compared: with 9 failures behind, of two sent together the
    # second is the 11th and is refused unchecked, even with the right password (before, both were
    # compared before either was counted: a guess past the threshold for each one sent alongside)
    tenant, passwords, outcomes = provider.tenants["kwsp"], provider.passwords, []
    for i in range(9):
        _time_passes(provider)
        provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}")
    _time_passes(provider)
    verify = passwords.verify

    def while_comparing(tenant_id, stored, password):
        if stored is not None and not outcomes:
            outcomes.append(provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.2"))  # sent alongside
        return verify(tenant_id, stored, password)
    monkeypatch.setattr(passwords, "verify", while_comparing)
    assert provider.sign_in(tenant, "ali", "wrong password here", "198.51.100.1").account_id is None
    assert outcomes[0].account_id is None and outcomes[0].reason == "locked"
    assert provider.accounts.find("kwsp", "ali").state == "locked"  # by the tenth


def test_a_right_password_on_its_way_as_the_lock_lands_is_refused(provider, user, monkeypatch):
    # it passed the lock check before the tenth failure locked the account, and is numbered after
    # the lock cleared the count (so within the threshold): the lock, written first, refuses it
    tenant, find, late = provider.tenants["kwsp"], provider.accounts.find, []

    def read_while_the_lock_lands(tenant_id, username):
        account = find(tenant_id, username)
        if not late:
            late.append(None)
            for i in range(tenant.lockout.threshold):
                _time_passes(provider)
                provider.sign_in(tenant, "ali", "wrong password here", f"203.0.113.{i}")
        return account
    monkeypatch.setattr(provider.accounts, "find", read_while_the_lock_lands)
    outcome = provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.3")
    assert provider.accounts.get("kwsp", user["id"]).state == "locked"
    assert outcome.account_id is None and outcome.reason == "locked"


def test_guesses_refused_past_the_threshold_do_not_run_up_the_ceiling(provider, user, monkeypatch):
    # thirty sent at once: the threshold's worth are compared and join the run, the rest are
    # refused unchecked and do not (else a burst would reach the ceiling, refusing the right
    # password for 30 days, with nothing compared)
    _ceiling(monkeypatch, 25)
    tenant, held, failure = provider.tenants["kwsp"], [], idp.signin._failure
    monkeypatch.setattr(idp.signin, "_failure", lambda *args, **kwargs: held.append((args, kwargs)))
    for i in range(30):  # all numbered before any failure is written
        provider.sign_in(tenant, "ali", f"guess {i}", f"203.0.113.{i}")
    monkeypatch.setattr(idp.signin, "_failure", failure)
    assert sum(args[8] == "bad_password" for args, _ in held) == tenant.lockout.threshold
    for args, kwargs in held:
        failure(*args, **kwargs)
    _time_passes(provider)
    assert provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.7").account_id  # the lock lifted, no ceiling


def test_a_guess_past_the_ceiling_puts_the_ceilings_lock_in_place(provider, user, monkeypatch):
    _ceiling(monkeypatch, 3)
    tenant = provider.tenants["kwsp"]
    provider.store.incr("run:signin:kwsp:ali", ttl=3600)  # two compared alongside, their failures not yet written
    provider.store.incr("run:signin:kwsp:ali", ttl=3600)
    provider.store.incr("run:signin:kwsp:ali", ttl=3600)
    outcome = provider.sign_in(tenant, "ali", PASSWORD, "198.51.100.7")  # the fourth: past the ceiling, unchecked
    assert outcome.account_id is None and outcome.reason == "locked"
    assert provider.store.get("signin_ceiling", "signin:kwsp:ali") is not None
    assert provider.accounts.find("kwsp", "ali").state == "locked"


def test_a_pending_account_locked_by_wrong_passwords_is_on_the_trail_and_told(provider):
    # its state stays pending (the temporary password still works once the lock lifts), but the
    # helpdesk must see why its sign-ins are refused, and the owner hears of it as anyone would
    tenant = provider.tenants["kwsp"]
    created = provider.lifecycle.create(tenant, username="baru", identity_type="member", temporary=True,
                                        phone="0123456789")
    sent = len(outbox(provider, "sms"))
    fail(provider, "baru", tenant.lockout.threshold)
    assert provider.accounts.find("kwsp", "baru").state == "pending_activation"
    locked = provider.audit.events("kwsp", subject=created["id"], event="signin.locked")
    assert len(locked) == 1 and locked[0].detail["state"] == "pending_activation"
    assert len(outbox(provider, "sms")) == sent + 1 and "dikunci" in read_sms(provider, "+60123456789")["text"]
