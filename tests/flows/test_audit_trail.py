"""An account's whole life is visible in the audit trail: who, what, when, from where, why."""
import json
import re

from idp.cli import main
from tests.helpers import PASSWORD, authorize, read_sms, submit_form


def test_a_whole_life_in_the_audit_trail(provider, settings, monkeypatch, capsys):
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    tenant = provider.tenants["kwsp"]
    created = provider.lifecycle.create(tenant, username="ahli09", identity_type="member", temporary=True,
                                        phone="0123456789", actor="counter:kl-01")
    temp = re.search(r"sementara (\S+)\.", read_sms(provider)["text"]).group(1)
    signed_in = provider.sign_in(tenant, "ahli09", temp, "198.51.100.7")
    assert signed_in.account_id
    from idp.self_service import SelfService
    assert SelfService(provider).set_password(tenant, created["id"], "pokok kelapa tinggi", "198.51.100.7",
                                              "first_sign_in", credential=signed_in.credential)
    for _ in range(10):
        provider.sign_in(tenant, "ahli09", "salah kata laluan", "203.0.113.50")
    for action in ("unlock", "deactivate", "reactivate", "terminate"):
        assert main(["accounts", action, "--tenant", "kwsp", "--username", "ahli09", "--actor", "helpdesk:aminah"]) == 0
    capsys.readouterr()
    assert main(["accounts", "show", "--tenant", "kwsp", "--username", "ahli09"]) == 0
    trail = json.loads(capsys.readouterr().out)["audit"]
    events = [e["event"] for e in trail]
    for expected in ("account.created", "account.credential_issued", "login.password", "account.active",
                     "password.changed", "account.locked", "account.deactivated", "account.terminated"):
        assert expected in events, expected
    first = trail[0]
    assert first["actor"] == "counter:kl-01" and first["at"]
    sign_in = next(e for e in trail if e["event"] == "login.password" and e["outcome"] == "success")
    assert sign_in["ip"] == "198.51.100.7"
    locked = next(e for e in trail if e["event"] == "account.locked")
    assert locked["ip"] == "203.0.113.50" and locked["detail"]["reason"] == "failed_sign_ins"
    terminated = next(e for e in trail if e["event"] == "account.terminated")
    assert terminated["actor"] == "helpdesk:aminah" and terminated["detail"]["previous"] == "active"


def _events(provider, event):
    return provider.audit.events("kwsp", event=event)


def test_a_user_id_that_matched_no_account_is_kept_keyed_hashed(provider, user):
    # people type their password into the user ID field: the trail must not keep it
    tenant = provider.tenants["kwsp"]
    for typed in ("correct horse battery staple", "CORRECT HORSE battery staple"):
        provider.sign_in(tenant, typed, "whatever", "198.51.100.7")
    first, second = [e.actor for e in _events(provider, "login.password")]
    assert first == second and first.startswith("typed:") and "horse" not in first  # still countable
    assert "horse" not in json.dumps([(e.actor, e.detail) for e in provider.audit.events("kwsp")])


def test_client_authentication_failures_are_audited(browser, provider, rp):
    from tests.helpers import basic
    for client_id in ("portal", "no-such-client"):
        response = browser.post("/t/kwsp/token", data={"grant_type": "client_credentials"},
                                headers=basic(client_id, "not-the-secret-0123456789"),
                                environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert response.status_code == 401
    failures = _events(provider, "client.authentication")
    assert [(e.client_id, e.ip, e.outcome) for e in failures] == [
        ("portal", "203.0.113.9", "failure"), ("no-such-client", "203.0.113.9", "failure")]
    assert "not-the-secret" not in json.dumps([e.detail for e in failures])


def test_tac_checks_are_audited_with_their_account_and_purpose(provider, user):
    from idp.tac import TacService
    tenant, tac = provider.tenants["kwsp"], TacService(provider)
    assert tac.send(tenant, provider.accounts.get("kwsp", user["id"]), "step_up", "binding-1", "ms") == "sent"
    code = re.search(r"\b(\d{6})\b", read_sms(provider)["text"]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    assert tac.verify(tenant, "binding-1", wrong) == "invalid"
    assert tac.verify(tenant, "binding-1", code) == "ok"
    checks = [(e.event, e.outcome, e.subject, e.detail) for e in provider.audit.events("kwsp")
              if e.event.startswith("tac.") and e.event != "tac.sent"]
    assert checks == [("tac.failed", "failure", user["id"], {"purpose": "step_up", "reason": "invalid"}),
                      ("tac.verified", "success", user["id"], {"purpose": "step_up", "reason": None})]
    assert code not in json.dumps([e.detail for e in provider.audit.events("kwsp")])


def test_sessions_started_and_ended_are_audited(browser, provider, rp, user):
    from tests.helpers import login
    login(browser)
    started, = _events(provider, "session.started")
    assert started.subject == user["id"] and started.ip and started.detail["sid"]
    assert started.detail["amr"] == ["pwd"] and started.detail["acr"]
    tenant = provider.tenants["kwsp"]
    provider.lifecycle.deactivate(tenant, provider.accounts.get("kwsp", user["id"]), actor="helpdesk:aminah")
    ended, = _events(provider, "session.ended")
    assert ended.subject == user["id"] and ended.detail["sids"] == [started.detail["sid"]]


def test_a_replayed_code_and_a_code_shown_by_another_client_name_who_and_from_where(browser, provider, rp, user):
    from tests.helpers import REDIRECT, SECRET, basic, login, register_client
    register_client(provider, client_id="other", secret="other-secret-0123456789")
    code = login(browser)["code"]

    def exchange(client_id, secret, ip):
        return browser.post("/t/kwsp/token", headers=basic(client_id, secret), environ_base={"REMOTE_ADDR": ip},
                            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert exchange("other", "other-secret-0123456789", "203.0.113.66").status_code == 400
    wrong, = _events(provider, "token.wrong_client")
    assert (wrong.client_id, wrong.ip, wrong.detail["kind"]) == ("other", "203.0.113.66", "code")
    assert exchange("portal", SECRET, "198.51.100.7").status_code == 200  # still its owner's
    assert exchange("portal", SECRET, "203.0.113.77").status_code == 400
    revoked, = _events(provider, "grant.revoked")
    assert (revoked.subject, revoked.ip, revoked.detail["reason"]) == (user["id"], "203.0.113.77", "code_replay")


def test_revoked_access_tokens_and_refused_introspection_are_audited(browser, provider, rp, user):
    from tests.helpers import basic, register_client
    from tests.oidc.support import tokens
    register_client(provider, client_id="other", secret="other-secret-0123456789")
    issued = tokens(browser, scope="openid offline_access")
    seen = browser.post("/t/kwsp/token/introspect", data={"token": issued["refresh_token"]},
                        headers=basic("other", "other-secret-0123456789"))
    assert seen.json == {"active": False}
    wrong, = _events(provider, "token.wrong_client")
    assert (wrong.client_id, wrong.detail["endpoint"]) == ("other", "introspection")
    assert browser.post("/t/kwsp/token/revoke", data={"token": issued["access_token"]},
                        headers=basic()).status_code == 200
    revoked, = _events(provider, "token.revoked")
    assert (revoked.subject, revoked.client_id, revoked.detail["kind"]) == (user["id"], "portal", "access_token")


def test_events_of_a_sign_in_name_the_portal_and_the_address(provider, browser, rp, user):
    # ASVS 16.2.1: which client, from where; the flow's events are recorded deep below the page
    # that knows the portal, and each would otherwise have to be handed both
    start = authorize(browser)
    url = start.headers["Location"]
    submit_form(browser, browser.get(url), url, username="ali", password="not the password")
    submit_form(browser, browser.get(url), url, username="ali", password=PASSWORD)
    events = [e for e in provider.audit.events("kwsp") if e.event in ("login.password", "session.started")]
    assert [(e.event, e.outcome) for e in events] == [("login.password", "failure"), ("login.password", "success"),
                                                      ("session.started", "success")]
    assert all(e.client_id == "portal" and e.ip == "127.0.0.1" for e in events)
