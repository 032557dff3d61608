"""An account's whole life is visible in the audit trail: who, what, when, from where, why."""
import json
import re

from idp.cli import main
from tests.helpers import read_sms


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
