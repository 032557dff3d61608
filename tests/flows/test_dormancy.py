"""Dormancy (issue 3, policy 5): eHemodialisis accounts with no sign-in for 180 days."""
from datetime import datetime, timedelta, timezone

from tests.helpers import PASSWORD, authorize, follow, make_user, register_client, submit_form
from idp.cli import main


def kwap_staff(provider, last_sign_in_days_ago):
    if provider.organisations.find("kwap", "PD-0001") is None:
        provider.organisations.create("kwap", "dialysis_centre", "PD-0001", "Pusat Dialisis Kajang")
    make_user(provider, tenant="kwap", username="staf01", identity_type="staff", organisation_id="PD-0001")
    account = provider.accounts.find("kwap", "staf01")
    provider.accounts.update("kwap", account.id,
                             last_sign_in_at=datetime.now(timezone.utc) - timedelta(days=last_sign_in_days_ago))
    return account


def test_day_180_is_active_and_day_181_is_dormant(provider):
    tenant = provider.tenants["kwap"]
    kwap_staff(provider, 179)
    assert provider.sign_in(tenant, "staf01", PASSWORD, None).account_id
    account = provider.accounts.find("kwap", "staf01")
    provider.accounts.update("kwap", account.id, last_sign_in_at=datetime.now(timezone.utc) - timedelta(days=181))
    outcome = provider.sign_in(tenant, "staf01", PASSWORD, None)
    assert outcome.account_id is None and outcome.message == "login.contact_helpdesk"
    assert provider.accounts.find("kwap", "staf01").state == "dormant"


def test_dormant_user_is_told_to_contact_the_helpdesk_but_only_with_the_right_password(provider, browser):
    register_client(provider, tenant="kwap")
    kwap_staff(provider, 200)
    start = authorize(browser, tenant="kwap")
    url = start.headers["Location"]
    wrong = follow(browser, submit_form(browser, browser.get(url), url, username="staf01", password="not it at all"))
    assert "meja bantuan" not in wrong.get_data(as_text=True)
    right = follow(browser, submit_form(browser, browser.get(url), url, username="staf01", password=PASSWORD))
    html = right.get_data(as_text=True)
    assert right.status_code == 400 and "meja bantuan KWAP di https://pension-assist.kwap.my" in html
    assert "kaunter" not in html  # KWAP has none


def test_sweep_and_helpdesk_reactivation(provider, settings, monkeypatch, capsys):
    kwap_staff(provider, 365)
    make_user(provider, tenant="kwsp", username="ahli")  # kwsp has no dormancy period
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    assert main(["accounts", "sweep"]) == 0
    assert '"dormant": 1' in capsys.readouterr().out
    assert provider.accounts.find("kwap", "staf01").state == "dormant"
    assert provider.accounts.find("kwsp", "ahli").state == "active"
    assert main(["accounts", "reactivate", "--tenant", "kwap", "--username", "staf01", "--actor", "helpdesk:ana"]) == 0
    assert provider.sign_in(provider.tenants["kwap"], "staf01", PASSWORD, None).account_id


def test_terminated_account_is_final(provider, settings, monkeypatch, capsys):
    kwap_staff(provider, 1)
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    assert main(["accounts", "terminate", "--tenant", "kwap", "--username", "staf01", "--actor", "helpdesk:ana"]) == 0
    assert provider.sign_in(provider.tenants["kwap"], "staf01", PASSWORD, None).account_id is None
    # the username is never reused, and a terminated account cannot come back
    assert main(["user", "create", "--tenant", "kwap", "--username", "staf01", "--type", "staff",
                 "--password", "another long password"]) != 0
    assert main(["accounts", "reactivate", "--tenant", "kwap", "--username", "staf01", "--actor", "helpdesk:1"]) != 0
    capsys.readouterr()


def test_the_sweep_leaves_an_account_changed_since_it_read_the_list(provider, monkeypatch):
    tenant = provider.tenants["kwap"]
    kwap_staff(provider, 200)
    listed = provider.accounts.in_state("kwap", "active")  # the sweep's list, read first
    provider.lifecycle.deactivate(tenant, listed[0], actor="helpdesk:3")  # then the helpdesk acts
    monkeypatch.setattr(provider.accounts, "in_state", lambda tenant_id, state: listed if state == "active" else [])
    assert provider.lifecycle.sweep(tenant) == {"dormant": 0, "unlocked": 0}
    assert provider.accounts.find("kwap", "staf01").state == "deactivated"
