"""TAC step-up through OIDC (issue 4): acr_values / essential acr, transaction binding with
authorization_details (RFC 9396), step-down, and the TAC's limits."""
import json
import re
import time

import pytest

from flows import views as flow_views
from idp import sessions
from idp.views import authorize as authorize_view
from tests.helpers import (PASSWORD, SECRET, authorize, basic, exchange, follow, interaction_uid, jwt_claims, login,
                           outbox, query, read_sms, register_client, submit_form)
from tests.oidc.support import ShiftedClock

TAC = "urn:kwsp:acr:tac"
PWD = "urn:kwsp:acr:pwd"
WITHDRAWAL = [{"type": "kwsp_withdrawal", "amount": "5000", "account": "1234-5678"}]


def ask(browser, details=WITHDRAWAL, **extra):
    params = {"acr_values": TAC, **extra}
    if details is not None:
        params["authorization_details"] = json.dumps(details)
    return authorize(browser, **params)


def tac_page(browser, details=WITHDRAWAL, **extra):
    start = ask(browser, details, **extra)
    assert start.status_code == 302 and "/interaction/" in start.headers["Location"], start.headers.get("Location")
    page = browser.get(start.headers["Location"])
    return start.headers["Location"], page


def code_in(sms):
    return re.search(r"\b(\d{6})\b", sms["text"]).group(1)


@pytest.fixture
def signed_in(browser, rp, user):
    login(browser)
    return browser


def test_withdrawal_with_tac_gives_tac_level_tokens_with_the_details(provider, signed_in):
    url, page = tac_page(signed_in)
    html = page.get_data(as_text=True)
    assert 'name="code"' in html and "RM 5,000.00" in html
    sms = read_sms(provider, "+60123456789")
    assert "RM 5,000.00" in sms["text"] and "pengeluaran" in sms["text"] and "5 minit" in sms["text"]
    done = follow(signed_in, submit_form(signed_in, page, url, code=code_in(sms)))
    result = query(done.headers["Location"])
    tokens = exchange(signed_in, result["code"]).json
    id_token = jwt_claims(tokens["id_token"])
    assert id_token["acr"] == TAC
    assert {"pwd", "sms"} <= set(id_token["amr"])
    assert tokens["authorization_details"] == [{"type": "kwsp_withdrawal", "amount": "5000.00", "account": "1234-5678"}]
    assert jwt_claims(tokens["access_token"])["authorization_details"] == tokens["authorization_details"]


def test_essential_acr_in_claims_asks_for_the_tac_too(provider, signed_in):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [TAC]}}})
    start = authorize(signed_in, claims=claims)
    assert "/interaction/" in start.headers["Location"]


def test_ordinary_sign_in_is_not_asked_for_a_tac(provider, signed_in):
    result = query(authorize(signed_in).headers["Location"])
    assert jwt_claims(exchange(signed_in, result["code"]).json["id_token"])["acr"] == PWD


def test_wrong_code_three_times_ends_the_transaction(provider, signed_in):
    url, page = tac_page(signed_in)
    right = code_in(read_sms(provider))
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        last_form, page = page, submit_form(signed_in, page, url, code=wrong)
    html = page.get_data(as_text=True)
    assert "Terlalu banyak" in html
    assert 'name="code"' not in html and 'name="resend"' not in html  # closed: no code, no resend
    assert "Terlalu banyak" in submit_form(signed_in, last_form, url, code=right).get_data(as_text=True)


def test_a_closed_transaction_sends_no_new_code(provider, signed_in):
    # a resend posted anyway (an older tab): a real SMS, counted in the day's cap, could never pass
    url, page = tac_page(signed_in)
    wrong = "000000" if code_in(read_sms(provider)) != "000000" else "111111"
    for _ in range(3):
        last_form, page = page, submit_form(signed_in, page, url, code=wrong)
    uid = interaction_uid(url)
    binding = provider.store.get("interaction", uid)["step_up"]["binding"]
    provider.store.delete("tac_last_sent", f"kwsp:step_up:{uid}:{binding}")  # the cooldown has passed
    again = submit_form(signed_in, last_form, url, resend="1").get_data(as_text=True)
    assert "Terlalu banyak" in again and 'name="resend"' not in again
    assert len(outbox(provider, "sms")) == 1
    for key in (f"tac_attempt:kwsp:step_up:{uid}:{binding}",):  # the store's counts lapse (an hour) ...
        provider.store.delete("counter", key)
    provider.store.delete("tac_failures", f"kwsp:step_up:{uid}:{binding}")
    submit_form(signed_in, last_form, url, resend="1")  # ... the transaction stays closed
    assert len(outbox(provider, "sms")) == 1
    assert "Terlalu banyak" in signed_in.get(url).get_data(as_text=True)  # and so it stays


def test_a_new_code_does_not_reset_the_failures(provider, signed_in):
    url, page = tac_page(signed_in)
    wrong = lambda: "999999" if code_in(read_sms(provider)) != "999999" else "888888"  # noqa: E731
    for _ in range(2):
        page = submit_form(signed_in, page, url, code=wrong())
    uid = interaction_uid(url)
    binding = provider.store.get("interaction", uid)["step_up"]["binding"]
    provider.store.delete("tac_last_sent", f"kwsp:step_up:{uid}:{binding}")  # the cooldown has passed
    page = submit_form(signed_in, page, url, resend="1")
    assert len(outbox(provider, "sms")) == 2
    last_form, page = page, submit_form(signed_in, page, url, code=wrong())
    assert "Terlalu banyak" in page.get_data(as_text=True)
    right = code_in(read_sms(provider))
    assert "Terlalu banyak" in submit_form(signed_in, last_form, url, code=right).get_data(as_text=True)


def test_expired_code_is_refused(provider, signed_in, monkeypatch):
    url, page = tac_page(signed_in)
    code = code_in(read_sms(provider))
    later = time.time() + provider.tenants["kwsp"].tac.lifetime.total_seconds() + 1
    import idp.tac
    real = idp.tac.datetime

    class Later(real):
        @classmethod
        def now(cls, tz=None):
            return real.fromtimestamp(later, tz)
    monkeypatch.setattr(idp.tac, "datetime", Later)
    assert "tamat tempoh" in submit_form(signed_in, page, url, code=code).get_data(as_text=True)


def test_code_replay_is_refused(provider, signed_in):
    url, page = tac_page(signed_in)
    code = code_in(read_sms(provider))
    follow(signed_in, submit_form(signed_in, page, url, code=code))
    # the same code, for the same transaction again: a new TAC is needed (one TAC, one transaction)
    url2, page2 = tac_page(signed_in)
    assert url2 != url
    assert "tidak sah" in submit_form(signed_in, page2, url2, code=code).get_data(as_text=True)


def test_a_code_for_another_transaction_does_not_approve_this_one(provider, signed_in):
    url_a, page_a = tac_page(signed_in)
    code_a = code_in(read_sms(provider))
    other = [{"type": "kwsp_withdrawal", "amount": "99000", "account": "9999-0000"}]
    url_b, page_b = tac_page(signed_in, details=other)
    assert "RM 99,000.00" in read_sms(provider)["text"]
    assert "tidak sah" in submit_form(signed_in, page_b, url_b, code=code_a).get_data(as_text=True)


def test_two_transactions_in_two_tabs_are_each_approved_by_their_own_code(provider, signed_in):
    url_a, page_a = tac_page(signed_in)
    code_a = code_in(read_sms(provider))
    other = [{"type": "kwsp_withdrawal", "amount": "99000", "account": "9999-0000"}]
    url_b, page_b = tac_page(signed_in, details=other)
    code_b = code_in(read_sms(provider))
    for url, page, code, amount in ((url_a, page_a, code_a, "5000.00"), (url_b, page_b, code_b, "99000.00")):
        done = follow(signed_in, submit_form(signed_in, page, url, code=code))
        tokens = exchange(signed_in, query(done.headers["Location"])["code"]).json
        assert tokens["authorization_details"][0]["amount"] == amount  # each tab its own transaction


def test_resend_within_cooldown_is_refused(provider, signed_in):
    url, page = tac_page(signed_in)
    again = submit_form(signed_in, page, url, resend="1")
    assert "tunggu" in again.get_data(as_text=True)
    assert len(outbox(provider, "sms")) == 1


def test_daily_cap(provider, signed_in):
    for _ in range(provider.tenants["kwsp"].tac.daily_cap):
        tac_page(signed_in)
    sent = len(outbox(provider, "sms"))
    _, page = tac_page(signed_in)
    assert "Had TAC harian" in page.get_data(as_text=True)
    assert len(outbox(provider, "sms")) == sent


def test_step_up_expires_and_steps_down(provider, signed_in):
    url, page = tac_page(signed_in, details=None)
    follow(signed_in, submit_form(signed_in, page, url, code=code_in(read_sms(provider))))
    # within the lifetime: no new TAC, and the tokens carry the TAC level
    fresh = authorize(signed_in, acr_values=TAC)
    assert fresh.headers["Location"].startswith("https://rp.example/cb")
    # after the lifetime: an ordinary request gets the base level, a TAC request needs a new TAC
    cookie = signed_in.get_cookie("idp_session", path="/t/kwsp")
    from idp.oauth.subject import digest
    session = provider.store.get("session", digest(cookie.value))
    session["step_up"]["at"] -= provider.tenants["kwsp"].assurance.step_up_lifetime.total_seconds() + 1
    provider.store.put("session", digest(cookie.value), session, 3600)
    ordinary = query(authorize(signed_in).headers["Location"])
    assert jwt_claims(exchange(signed_in, ordinary["code"]).json["id_token"])["acr"] == PWD
    assert "/interaction/" in authorize(signed_in, acr_values=TAC).headers["Location"]


def test_invalid_authorization_details_are_refused(provider, signed_in):
    bad = authorize(signed_in, acr_values=TAC, authorization_details=json.dumps([{"type": "kwsp_withdrawal", "amount": -5}]))
    assert query(bad.headers["Location"])["error"] == "invalid_authorization_details"
    unknown = authorize(signed_in, authorization_details=json.dumps([{"type": "lottery"}]))
    assert query(unknown.headers["Location"])["error"] == "invalid_authorization_details"
    assert outbox(provider, "sms") == []


def test_discovery_lists_acr_values_and_detail_types(browser):
    meta = browser.get("/t/kwsp/.well-known/openid-configuration").json
    assert TAC in meta["acr_values_supported"]
    assert "kwsp_withdrawal" in meta["authorization_details_types_supported"]


def test_guesses_sent_side_by_side_are_each_counted(provider, user, monkeypatch):
    # every guess is numbered before it is compared: concurrent ones cannot share a failure count
    import threading
    import time as clock

    from idp.self_service import SelfService
    from idp.tac import TacService
    service, tenant, store = SelfService(provider), provider.tenants["kwsp"], provider.store
    binding = "kwsp:step_up:race:"
    service.send_tac(tenant, user["id"], "step_up", binding, "ms")
    right = code_in(read_sms(provider))
    compared, hash_code, get = [], TacService._hash, store.get

    def counting_hash(self, binding, code):
        compared.append(code)
        return hash_code(self, binding, code)

    def slow_get(kind, id):  # every guess reads the state before any of them writes
        value = get(kind, id)
        clock.sleep(0.05)
        return value
    monkeypatch.setattr(TacService, "_hash", counting_hash)
    monkeypatch.setattr(store, "get", slow_get)
    # fewer than the account's ceiling (SUBJECT_FAILURE_CEILING, counted apart from the attempt
    # number): otherwise a guess numbered within max_attempts may meet the ceiling first
    guesses = [f"{i:06d}" for i in range(9) if f"{i:06d}" != right]
    verdicts, barrier = [], threading.Barrier(len(guesses))

    def guess(code):
        barrier.wait()
        verdicts.append(service.verify_tac(tenant, binding, code))
    threads = [threading.Thread(target=guess, args=(code,)) for code in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    max_attempts = tenant.tac.max_attempts
    assert len(compared) == max_attempts, verdicts  # only the first max_attempts were compared
    assert "ok" not in verdicts and set(verdicts) <= {"invalid", "too_many_attempts", "expired"}
    monkeypatch.undo()
    assert service.verify_tac(tenant, binding, right) != "ok"


def test_a_tac_alone_makes_no_session_when_the_stepped_up_one_is_gone(provider, signed_in):
    url, page = tac_page(signed_in)
    code = code_in(read_sms(provider))
    signed_in.delete_cookie("idp_session", path="/t/kwsp")  # the session ended (idle, logout elsewhere)
    done = submit_form(signed_in, page, url, code=code)
    assert signed_in.get_cookie("idp_session", path="/t/kwsp") is None  # no session from the TAC
    final = follow(signed_in, done)
    assert "code=" not in final.headers.get("Location", "") and b'name="password"' in final.data


def test_another_users_password_does_not_renew_this_session(provider, signed_in):
    # prompt=login with a TAC level asked: whoever signs in gets their own session, never this one
    from idp.oauth.subject import digest
    from tests.helpers import make_user
    bob = make_user(provider, username="bob", email="bob@example.com", phone="0191112222")
    start = ask(signed_in, prompt="login")
    url = start.headers["Location"]
    submit_form(signed_in, signed_in.get(url), url, username="bob", password="correct horse battery staple")
    session = provider.store.get("session", digest(signed_in.get_cookie("idp_session", path="/t/kwsp").value))
    assert session["account_id"] == bob["id"]


def test_codes_sent_ahead_do_not_buy_more_guesses_than_the_ceiling(provider, user):
    from idp.self_service import SelfService
    from idp.tac import SUBJECT_FAILURE_CEILING
    service, tenant = SelfService(provider), provider.tenants["kwsp"]
    bindings = [f"kwsp:recovery:ahead-{i}:" for i in range(6)]
    for binding in bindings:  # every code first, before any guess
        assert service.send_tac(tenant, user["id"], "recovery", binding, "ms") == "sent"
    right = code_in(read_sms(provider))  # the last binding's
    wrong = "000000" if right != "000000" else "111111"
    compared = 0
    for binding in bindings:
        for _ in range(2):
            if service.verify_tac(tenant, binding, wrong) == "invalid":
                compared += 1
    assert compared <= SUBJECT_FAILURE_CEILING
    assert service.verify_tac(tenant, bindings[-1], right) != "ok"


def test_refresh_steps_down_once_the_step_up_lapses(provider, signed_in, monkeypatch):
    url, page = tac_page(signed_in, details=None, scope="openid offline_access")
    done = follow(signed_in, submit_form(signed_in, page, url, code=code_in(read_sms(provider))))
    tokens = exchange(signed_in, query(done.headers["Location"])["code"]).json
    base = jwt_claims(tokens["id_token"])

    def refresh(token):
        body = signed_in.post("/t/kwsp/token", data={"grant_type": "refresh_token", "refresh_token": token},
                              headers=basic("portal", SECRET)).json
        return body, jwt_claims(body["id_token"]), jwt_claims(body["access_token"])

    body, id_token, access = refresh(tokens["refresh_token"])
    assert id_token["acr"] == access["acr"] == TAC  # still within the step-up's lifetime
    lapsed = time.time() + provider.tenants["kwsp"].assurance.step_up_lifetime.total_seconds() + 1
    monkeypatch.setattr(time, "time", lambda: lapsed)
    body, id_token, access = refresh(body["refresh_token"])
    assert id_token["acr"] == access["acr"] == PWD and id_token["amr"] == access["amr"] == ["pwd"]
    assert id_token["auth_time"] == base["auth_time"]
    body, id_token, _ = refresh(body["refresh_token"])  # and stays down
    assert id_token["acr"] == PWD


def test_details_without_a_step_up_level_are_refused(provider, signed_in):
    # a transaction is approved by a TAC bound to it, never by the session or an earlier TAC
    url, page = tac_page(signed_in)
    follow(signed_in, submit_form(signed_in, page, url, code=code_in(read_sms(provider, "+60123456789"))))
    sent = len(outbox(provider, "sms"))
    other = [{"type": "kwsp_withdrawal", "amount": "50000", "account": "9999"}]
    for extra in ({}, {"prompt": "none"}):
        result = query(authorize(signed_in, authorization_details=json.dumps(other), **extra).headers["Location"])
        assert result["error"] == "invalid_request" and "code" not in result
    assert len(outbox(provider, "sms")) == sent


@pytest.mark.parametrize("acr, error", [
    ({"essential": True, "values": ["urn:mace:incommon:iap:silver"]}, "unmet_authentication_requirements"),
    ({"essential": True, "value": "urn:example:unknown"}, "unmet_authentication_requirements"),
    ({"essential": True, "values": TAC}, "invalid_request"),  # a string where an array belongs
    ({"essential": True, "values": []}, "invalid_request"),
])
def test_essential_acr_that_cannot_be_met_fails_the_request(signed_in, acr, error):
    result = query(authorize(signed_in, claims=json.dumps({"id_token": {"acr": acr}})).headers["Location"])
    assert result["error"] == error and "code" not in result


@pytest.mark.parametrize("acr", [{"essential": True, "values": [PWD, "urn:other"]}, {"essential": True}])
def test_essential_acr_of_the_base_level_or_of_no_level_is_met_by_the_password(signed_in, acr):
    # essential alone (Core 5.5.1) asks for the claim, not for a level
    result = query(authorize(signed_in, claims=json.dumps({"id_token": {"acr": acr}})).headers["Location"])
    assert jwt_claims(exchange(signed_in, result["code"]).json["id_token"])["acr"] == PWD


def test_an_essential_acr_asked_with_values_gets_one_of_them_back(provider, signed_in):
    # Core 5.5.1.1: the returned acr MUST match one of the values; a session stepped up to the TAC
    # meets the password level, and says so when that is what the portal asked for
    url, page = tac_page(signed_in, details=None)
    follow(signed_in, submit_form(signed_in, page, url, code=code_in(read_sms(provider))))
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [PWD]}}})
    result = query(authorize(signed_in, claims=claims).headers["Location"])
    tokens = exchange(signed_in, result["code"]).json
    assert jwt_claims(tokens["id_token"])["acr"] == jwt_claims(tokens["access_token"])["acr"] == PWD
    assert "sms" in jwt_claims(tokens["id_token"])["amr"]  # how they signed in is still told as it was
    # without an essential acr the session's level is told
    result = query(authorize(signed_in, acr_values=PWD).headers["Location"])
    assert jwt_claims(exchange(signed_in, result["code"]).json["id_token"])["acr"] == TAC


def _same_browser(app, browser):
    """A second client holding this browser's cookies: its other tab, or another portal's page."""
    twin = app.test_client()
    for cookie in browser._cookies.values():
        twin.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return twin


def test_one_tac_approves_one_transaction_when_two_requests_for_it_race(app, provider, signed_in, monkeypatch):
    # the second request's check passes before the first spends the approval: only one spends it
    url, page = tac_page(signed_in)
    pending = submit_form(signed_in, page, url, code=code_in(read_sms(provider)))  # the TAC is right
    sessions, spend, codes = provider.sessions, provider.sessions.spend_step_up_binding, []

    def the_other_first(tenant, binding):
        monkeypatch.setattr(sessions, "spend_step_up_binding", spend)
        second = ask(_same_browser(app, signed_in))  # checked, spent, answered: all in between
        codes.append(query(second.headers["Location"]).get("code"))
        return spend(tenant, binding)
    monkeypatch.setattr(sessions, "spend_step_up_binding", the_other_first)
    first = follow(signed_in, pending)
    assert codes[0] and first.status_code == 200 and 'name="code"' in first.get_data(as_text=True)  # a TAC again


def test_a_spent_approval_is_not_brought_back_by_another_portals_request(app, provider, signed_in, monkeypatch):
    # another portal's request read the session before the approval was spent, and writes after
    register_client(provider, client_id="other-portal")
    url, page = tac_page(signed_in)
    resume = submit_form(signed_in, page, url, code=code_in(read_sms(provider))).headers["Location"]
    sessions, add_client, codes = provider.sessions, provider.sessions.add_client, []

    def slow(tenant, session, client_id):
        monkeypatch.setattr(sessions, "add_client", add_client)
        codes.append(query(follow(signed_in, signed_in.get(resume)).headers["Location"]).get("code"))
        return add_client(tenant, session, client_id)
    monkeypatch.setattr(sessions, "add_client", slow)
    authorize(_same_browser(app, signed_in), client_id="other-portal")
    assert codes[0]
    assert "/interaction/" in ask(signed_in).headers["Location"]  # the same transaction: a TAC again
    assert "other-portal" in sessions.store.family(f"sessions:{provider.accounts.find('kwsp', 'ali').id}")[0]["clients"]


def test_a_resent_code_is_news_not_an_error(provider, signed_in):
    url, page = tac_page(signed_in)
    uid = interaction_uid(url)
    binding = provider.store.get("interaction", uid)["step_up"]["binding"]
    provider.store.delete("tac_last_sent", f"kwsp:step_up:{uid}:{binding}")  # the cooldown has passed
    resent = submit_form(signed_in, page, url, resend="1")
    html = resent.get_data(as_text=True)
    assert resent.status_code == 200 and "TAC baharu telah dihantar" in html and 'role="status"' in html
    assert "<title>Ralat" not in html and "aria-invalid" not in html
    wrong = submit_form(signed_in, page, url, code="000000" if code_in(read_sms(provider)) != "000000" else "111111")
    assert "<title>Ralat" in wrong.get_data(as_text=True)  # a refused code still is


def test_max_age_still_holds_when_a_step_up_by_tac_alone_ends_past_it(signed_in, provider, monkeypatch):
    # OIDC Core 3.1.2.1: a TAC does not move auth_time, so coming back from the step-up is not a
    # sign-in for this request; the code typed past max_age, the whole sign-in is asked again
    clock = ShiftedClock(60)  # signed in a minute ago
    for module in (sessions, authorize_view, flow_views):
        monkeypatch.setattr(module, "time", clock)
    url, page = tac_page(signed_in, details=None, max_age="600")
    assert 'name="password"' not in page.get_data(as_text=True)  # 60 s + a TAC's 5 minutes < 600 s
    clock.seconds = 700  # the code (a resent one, say) typed 640 s later
    asked = follow(signed_in, submit_form(signed_in, page, url, code=code_in(read_sms(provider))))
    assert asked.status_code == 200 and 'name="username"' in asked.get_data(as_text=True)  # no code yet


def test_a_step_up_asks_the_password_first_when_max_age_would_lapse_before_the_code(signed_in, provider,
                                                                                  monkeypatch):
    clock = ShiftedClock(60)
    for module in (sessions, authorize_view, flow_views):
        monkeypatch.setattr(module, "time", clock)
    url, page = tac_page(signed_in, details=None, max_age="120")
    assert 'name="password"' in page.get_data(as_text=True)  # 60 s + a TAC's 5 minutes > 120 s
    code_page = follow(signed_in, submit_form(signed_in, page, url, password=PASSWORD))
    clock.seconds = 150  # the code typed 90 s after the password
    back = follow(signed_in, submit_form(signed_in, code_page, url, code=code_in(read_sms(provider))))
    claims = jwt_claims(exchange(signed_in, query(back.headers["Location"])["code"]).json["id_token"])
    assert clock.time() - claims["auth_time"] <= 120 and claims["acr"] == TAC


@pytest.mark.parametrize("asked", [{"prompt": "login"}, {"max_age": "0"}])
def test_a_password_typed_for_the_request_is_not_asked_again_by_its_step_up(signed_in, provider, monkeypatch, asked):
    # the sign-in and the step-up are two interactions of one request: the password typed in the
    # first meets prompt=login and max_age for the second, even a second later (else the password
    # reset the level, the step-up ran again, and each round sent a TAC)
    clock = ShiftedClock(0)
    for module in (sessions, authorize_view, flow_views):
        monkeypatch.setattr(module, "time", clock)
    url = ask(signed_in, details=None, **asked).headers["Location"]
    page = signed_in.get(url)
    assert 'name="username"' in page.get_data(as_text=True)
    signed = submit_form(signed_in, page, url, username="ali", password=PASSWORD)
    clock.seconds = 1  # the browser comes back in the next second
    step_up = follow(signed_in, signed)
    html = step_up.get_data(as_text=True)
    assert 'name="code"' in html and 'name="password"' not in html  # the TAC alone
    back = follow(signed_in, submit_form(signed_in, step_up, step_up.request.path,
                                         code=code_in(read_sms(provider))))
    claims = jwt_claims(exchange(signed_in, query(back.headers["Location"])["code"]).json["id_token"])
    assert claims["acr"] == TAC and len(outbox(provider, "sms")) == 1  # one TAC, one round


class _Frozen:
    """A module's `time` stopped at `at` (monotonic, sleep ... as they are)."""

    def __init__(self, at):
        self.at = at

    def time(self):
        return self.at

    def __getattr__(self, name):
        return getattr(time, name)


def test_a_sign_in_just_before_the_request_in_the_same_second_is_not_one_for_it(browser, rp, user, provider,
                                                                                monkeypatch):
    # auth_time is whole seconds: a sign-in at X.1 (the portal's last request) and this request at
    # X.8 must not make it count as made for this one, waiving max_age
    from flows.catalog import step_up as step_up_flow
    clock = _Frozen(float(int(time.time())) + 0.1)
    for module in (sessions, authorize_view, flow_views, step_up_flow):
        monkeypatch.setattr(module, "time", clock)
    login(browser)
    clock.at += 0.7
    url, page = tac_page(browser, details=None, max_age="120")
    assert 'name="password"' in page.get_data(as_text=True)  # a sign-in before the request: renewed first
    code_page = follow(browser, submit_form(browser, page, url, password=PASSWORD))
    clock.at += 200
    back = follow(browser, submit_form(browser, code_page, url, code=code_in(read_sms(provider))))
    claims = jwt_claims(exchange(browser, query(back.headers["Location"])["code"]).json["id_token"])
    assert claims["acr"] == TAC and clock.at - claims["auth_time"] <= 201
