"""The `idp` command's automation contract (idp/cli.py): JSON on stdout for what it made; on bad
input a non-zero exit, one line on stderr, and nothing changed."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from joserfc.jwk import RSAKey

from idp.cli import main
from tests.helpers import backdate_staged_keys

SECRET_KEY = "test-secret-key-0123456789abcdef"
REDIRECT = "https://rp.example/cb"
PUBLIC_JWK = RSAKey.generate_key(2048).as_dict(private=False)


class Idp:
    def __init__(self, root: Path, capsys):
        self.root, self.capsys = root, capsys
        self.database = root / "idp.sqlite3"
        self.outbox = root / "outbox"

    def run(self, *argv) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv) -> dict:
        code, out, err = self.run(*argv)
        assert code == 0, err
        assert err == ""
        assert out.count("\n") == 1  # one JSON object, one line
        return json.loads(out)

    def messages(self, channel: str) -> list[dict]:
        path = self.outbox / f"{channel}.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    def snapshot(self) -> dict:
        """Every row of every table, and every message sent."""
        connection = sqlite3.connect(self.database)
        try:
            tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            rows = {t: sorted(map(repr, connection.execute(f'SELECT * FROM "{t}"'))) for t in tables}
        finally:
            connection.close()
        return {"rows": rows, "sms": self.messages("sms"), "email": self.messages("email")}


def _environment(monkeypatch, root: Path):
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(root))
    monkeypatch.setenv("IDP_DATABASE_URL", f"sqlite:///{root / 'idp.sqlite3'}")
    monkeypatch.setenv("IDP_OUTBOX_DIR", str(root / "outbox"))
    monkeypatch.setenv("IDP_SECRET_KEY", SECRET_KEY)
    for name in ("IDP_REDIS_URL", "IDP_TENANTS_DIR", "IDP_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def idp(tmp_path, monkeypatch, capsys):
    _environment(monkeypatch, tmp_path)
    return Idp(tmp_path, capsys)


@pytest.fixture(scope="module")
def populated_database(tmp_path_factory):
    """An instance with a kwsp client `portal` and member `ali`, made once (key generation is slow)."""
    root = tmp_path_factory.mktemp("populated")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _environment(monkeypatch, root)
        assert main(list(client_create("--redirect-uri", REDIRECT))) == 0
        assert main(list(user_create("--password", "correct horse battery staple", "--phone", "0123456789"))) == 0
    return root / "idp.sqlite3"


@pytest.fixture
def populated(idp, populated_database):
    source, target = sqlite3.connect(populated_database), sqlite3.connect(idp.database)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return idp


def client_create(*extra, tenant="kwsp", client_id="portal"):
    return ("client", "create", "--tenant", tenant, "--client-id", client_id, *extra)


def user_create(*extra, tenant="kwsp", username="ali", identity_type="member"):
    return ("user", "create", "--tenant", tenant, "--username", username, "--type", identity_type, *extra)


# --- what the commands make ------------------------------------------------------------------

def test_client_create_prints_the_secret_once(idp):
    created = idp.ok(*client_create("--redirect-uri", REDIRECT, "--name", "i-Akaun"))
    assert created["client_id"] == "portal"
    assert created["redirect_uris"] == [REDIRECT]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    secret = created["client_secret"]
    assert len(secret) >= 32
    assert secret.encode() not in idp.database.read_bytes()  # only a keyed hash is stored

    public = idp.ok(*client_create("--redirect-uri", REDIRECT, "--auth-method", "none", client_id="spa"))
    assert "client_secret" not in public
    assert not created["require_pkce"] and public["require_pkce"]  # a public client always
    strict = idp.ok(*client_create("--redirect-uri", REDIRECT, "--require-pkce", client_id="strict"))
    assert strict["require_pkce"]
    api = idp.ok(*client_create("--grant-type", "client_credentials", "--scope", "api", "--resource-server",
                                client_id="api"))
    assert api["resource_server"] and not created["resource_server"]  # introspects others' access tokens
    assert not idp.ok("client", "update", "--tenant", "kwsp", "--client-id", "api",
                      "--no-resource-server")["resource_server"]


def _registered(idp, client_id="portal"):
    from idp.config import load_settings
    from idp.provider import Provider
    return Provider(load_settings()).clients.find("kwsp", client_id)


def test_a_client_is_updated_listed_given_a_new_secret_and_deleted(populated):
    first = populated.ok(*client_create("--redirect-uri", REDIRECT, "--secret", "first-secret-0123456789",
                                        client_id="i-akaun"))
    updated = populated.ok("client", "update", "--tenant", "kwsp", "--client-id", "i-akaun",
                           "--redirect-uri", "https://rp.example/new-cb", "--redirect-uri", "https://rp.example/cb2",
                           "--scope", "openid profile", "--require-pkce")
    # what was given replaces what was there; the rest stays
    assert updated["redirect_uris"] == ["https://rp.example/new-cb", "https://rp.example/cb2"]
    assert updated["scope"] == "openid profile" and updated["require_pkce"]
    assert updated["grant_types"] == first["grant_types"] and "client_secret" not in updated
    client = _registered(populated, "i-akaun")
    assert client.check_redirect_uri("https://rp.example/new-cb") and not client.check_redirect_uri(REDIRECT)
    with_extras = populated.ok("client", "update", "--tenant", "kwsp", "--client-id", "i-akaun", "--name", "i-Akaun",
                               "--backchannel-logout-uri", "https://rp.example/bc")
    assert with_extras["client_name"] == "i-Akaun" and with_extras["backchannel_logout_session_required"]
    cleared = populated.ok("client", "update", "--tenant", "kwsp", "--client-id", "i-akaun", "--clear", "name",
                           "--clear", "backchannel-logout-uri")
    assert cleared["client_name"] is None and cleared["backchannel_logout_uri"] is None
    assert not cleared["backchannel_logout_session_required"] and cleared["scope"] == "openid profile"

    listed = populated.ok("client", "list", "--tenant", "kwsp")["clients"]
    assert [c["client_id"] for c in listed] == ["i-akaun", "portal"]  # (spa comes later)
    assert not any("secret" in key for c in listed for key in c)

    rotated = populated.ok("client", "rotate-secret", "--tenant", "kwsp", "--client-id", "i-akaun")
    assert len(rotated["client_secret"]) >= 32
    client = _registered(populated, "i-akaun")
    assert client.check_client_secret(rotated["client_secret"])
    assert not client.check_client_secret("first-secret-0123456789")  # refused from now on

    populated.ok(*client_create("--redirect-uri", REDIRECT, "--auth-method", "none", client_id="spa"))
    code, _, err = populated.run("client", "rotate-secret", "--tenant", "kwsp", "--client-id", "spa")
    assert code == 2 and "authenticates without a secret (none)" in err

    assert populated.ok("client", "delete", "--tenant", "kwsp", "--client-id", "i-akaun")["deleted"]
    assert _registered(populated, "i-akaun") is None and _registered(populated, "portal") is not None
    assert "i-akaun" not in [c["client_id"] for c in populated.ok("client", "list", "--tenant", "kwsp")["clients"]]
    # never registered again: its tokens name it, and would pass to whoever took the id
    code, _, err = populated.run(*client_create("--redirect-uri", REDIRECT, client_id="i-akaun"))
    assert code == 2 and "was deleted; a client id is never used again" in err
    for action in (("update", "--scope", "openid"), ("rotate-secret",), ("delete",)):
        assert populated.run("client", *action, "--tenant", "kwsp", "--client-id", "i-akaun")[0] == 2
    events = [row for row in populated.snapshot()["rows"]["audit_events"] if "i-akaun" in row]
    assert all(any(name in row for row in events) for name in
               ("client.created", "client.updated", "client.secret_rotated", "client.deleted"))


def client_update(client_id, *extra):
    return ("client", "update", "--tenant", "kwsp", "--client-id", client_id, *extra)


def _changed(idp, client_id) -> list[list[str]]:
    """What each client.updated event of the client says changed, oldest first."""
    connection = sqlite3.connect(idp.database)
    try:
        rows = connection.execute("SELECT detail FROM audit_events WHERE event = 'client.updated' AND client_id = ? "
                                  "ORDER BY id", (client_id,))
        return [json.loads(detail)["changed"] for (detail,) in rows]
    finally:
        connection.close()


def test_a_client_moves_between_secret_methods_with_its_secret(populated):
    populated.ok(*client_create("--redirect-uri", REDIRECT, "--secret", "first-secret-0123456789",
                                client_id="i-akaun"))
    moved = populated.ok(*client_update("i-akaun", "--auth-method", "client_secret_post"))
    assert moved["token_endpoint_auth_method"] == "client_secret_post" and "client_secret" not in moved
    client = _registered(populated, "i-akaun")
    assert client.check_endpoint_auth_method("client_secret_post", "token")
    assert not client.check_endpoint_auth_method("client_secret_basic", "token")
    assert client.check_client_secret("first-secret-0123456789")  # the portal deploys no new secret
    back = populated.ok(*client_update("i-akaun", "--auth-method", "client_secret_basic"))
    assert "client_secret" not in back
    assert _registered(populated, "i-akaun").check_client_secret("first-secret-0123456789")
    assert _changed(populated, "i-akaun") == [["token_endpoint_auth_method"]] * 2


def test_a_client_moves_to_private_key_jwt_and_back(populated):
    jwks = {"keys": [PUBLIC_JWK]}
    populated.ok(*client_create("--redirect-uri", REDIRECT, "--secret", "first-secret-0123456789",
                                client_id="i-akaun"))
    signed = populated.ok(*client_update("i-akaun", "--auth-method", "private_key_jwt", "--jwks", json.dumps(jwks)))
    assert signed["token_endpoint_auth_method"] == "private_key_jwt" and signed["jwks"] == jwks
    assert "client_secret" not in signed and signed["redirect_uris"] == [REDIRECT]  # the rest stays
    client = _registered(populated, "i-akaun")
    assert client.auth_method == "private_key_jwt" and client.client_metadata["jwks"] == jwks
    assert client.secret_hash is None and not client.check_client_secret("first-secret-0123456789")

    back = populated.ok(*client_update("i-akaun", "--auth-method", "client_secret_basic"))
    secret = back["client_secret"]  # printed once, as create and rotate-secret do
    assert len(secret) >= 32 and back["jwks"] is None and back["token_endpoint_auth_method"] == "client_secret_basic"
    client = _registered(populated, "i-akaun")
    assert client.check_client_secret(secret) and not client.check_client_secret("first-secret-0123456789")
    assert client.client_metadata["jwks"] is None

    populated.ok(*client_update("i-akaun", "--auth-method", "private_key_jwt", "--jwks", json.dumps(jwks)))
    chosen = populated.ok(*client_update("i-akaun", "--auth-method", "client_secret_post",
                                         "--secret", "chosen-secret-0123456789"))
    assert chosen["client_secret"] == "chosen-secret-0123456789"
    client = _registered(populated, "i-akaun")
    assert client.check_client_secret("chosen-secret-0123456789") and not client.check_client_secret(secret)

    assert _changed(populated, "i-akaun") == [["jwks", "token_endpoint_auth_method"]] * 4
    stored = repr(populated.snapshot())  # every row, the audit trail's too: digests only
    assert secret not in stored and "chosen-secret-0123456789" not in stored


def test_a_client_does_not_become_public_or_confidential(populated):
    jwks = json.dumps({"keys": [PUBLIC_JWK]})
    populated.ok(*client_create("--redirect-uri", REDIRECT, "--auth-method", "none", client_id="spa"))
    populated.ok(*client_create("--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt", "--jwks", jwks,
                                client_id="signed"))
    before = populated.snapshot()
    for client_id, extra in (("spa", ("--auth-method", "client_secret_basic")),
                             ("spa", ("--auth-method", "private_key_jwt", "--jwks", jwks)),
                             ("portal", ("--auth-method", "none")), ("signed", ("--auth-method", "none"))):
        code, out, err = populated.run(*client_update(client_id, *extra))
        assert (code, out) == (2, "") and err.count("\n") == 1 and "register a new client" in err, err
    assert populated.snapshot() == before
    assert _registered(populated, "spa").is_public and not _registered(populated, "signed").is_public


@pytest.mark.parametrize("extra, says", [
    (("--secret", "s" * 24), "rotate-secret"),
    (("--auth-method", "private_key_jwt", "--secret", "s" * 24), "rotate-secret"),
    (("--auth-method", "client_secret_basic", "--secret", "short"), "16 to 512 characters"),
    (("--auth-method", "client_secret_basic", "--jwks", json.dumps({"keys": [PUBLIC_JWK]})),
     "only for private_key_jwt"),
])
def test_a_secret_on_update_comes_only_with_leaving_private_key_jwt(populated, extra, says):
    populated.ok(*client_create("--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt",
                                "--jwks", json.dumps({"keys": [PUBLIC_JWK]}), client_id="signed"))
    before = populated.snapshot()
    code, out, err = populated.run(*client_update("signed", *extra))
    assert (code, out) == (2, "") and err.count("\n") == 1 and says in err, err
    assert populated.snapshot() == before


def test_operator_commands_name_who_ran_them_in_the_audit_trail(idp, monkeypatch):
    monkeypatch.setenv("LOGNAME", "siti")  # without --actor: the login that ran the command
    idp.ok(*client_create("--redirect-uri", REDIRECT))
    idp.ok(*client_create("--redirect-uri", REDIRECT, "--actor", "admin:ops-7", client_id="other"))
    idp.ok("client", "update", "--tenant", "kwsp", "--client-id", "other", "--name", "Other", "--actor", "admin:ops-8")
    idp.ok(*user_create("--password", "correct horse battery staple", "--actor", "admin:ops-9"))
    connection = sqlite3.connect(idp.database)
    try:
        trail = list(connection.execute("SELECT event, client_id, actor FROM audit_events ORDER BY id"))
    finally:
        connection.close()
    assert ("client.created", "portal", "cli:siti") in trail
    assert ("client.created", "other", "admin:ops-7") in trail and ("client.updated", "other", "admin:ops-8") in trail
    assert ("account.created", None, "admin:ops-9") in trail
    assert not any(actor == "cli" for _, _, actor in trail)


def test_a_client_may_have_many_scopes_of_its_own(idp):
    scopes = "openid " + " ".join(f"api:resource-{n}.read" for n in range(20))  # over 200 characters
    assert idp.ok(*client_create("--redirect-uri", REDIRECT, "--scope", scopes))["scope"] == scopes


def test_client_create_keeps_a_chosen_secret(idp):
    created = idp.ok(*client_create("--redirect-uri", REDIRECT, "--secret", "portal-secret-0123456789"))
    assert created["client_secret"] == "portal-secret-0123456789"


def test_user_create_with_password_is_active(idp):
    account = idp.ok(*user_create("--password", "correct horse battery staple", "--name", "Ali bin Abu",
                                  "--phone", "012-345 6789", "--national-id", "900101-14-5678"))
    assert account["state"] == "active"
    assert account["must_change_password"] is False
    assert account["tenant"] == "kwsp" and account["type"] == "member" and account["username"] == "ali"
    assert account["phone"] == "+60123456789"
    assert account["national_id"] == "900101145678"
    assert "correct horse" not in json.dumps(account)
    assert idp.messages("sms") == [] and idp.messages("email") == []


def test_temporary_kwsp_member_gets_an_sms(idp):
    before = datetime.now(timezone.utc)
    account = idp.ok(*user_create("--temporary", "--phone", "012-3456789"))
    assert account["state"] == "pending_activation"
    assert account["must_change_password"] is True
    assert "activation_code" not in account
    deadline = datetime.fromisoformat(account["activation_deadline"])
    assert timedelta(days=29) < deadline - before <= timedelta(days=31)

    [sms] = idp.messages("sms")
    assert set(sms) == {"to", "text", "tenant", "sent_at"}
    assert sms["to"] == "+60123456789"
    assert sms["tenant"] == "kwsp"
    assert "ali" in sms["text"]
    assert datetime.fromisoformat(sms["sent_at"]) >= before
    assert idp.messages("email") == []


def test_temporary_perkeso_employer_gets_an_email(idp):
    account = idp.ok(*user_create("--temporary", "--email", "hr@syarikat.example", tenant="perkeso",
                                  username="majikan1", identity_type="employer"))
    assert account["state"] == "pending_activation"
    [email] = idp.messages("email")
    assert email["to"] == "hr@syarikat.example"
    assert email["tenant"] == "perkeso"
    assert email["subject"]
    assert "majikan1" in email["text"]
    assert idp.messages("sms") == []


def test_temporary_kwsp_employer_gets_an_activation_code(idp):
    account = idp.ok(*user_create("--temporary", username="majikan1", identity_type="employer"))
    assert account["state"] == "pending_activation"
    code = account["activation_code"]
    assert isinstance(code, str) and len(code) >= 8
    assert code.encode() not in idp.database.read_bytes()  # stored hashed
    assert idp.messages("sms") == [] and idp.messages("email") == []  # handed over at the counter


def test_keys_rotate_prints_the_step(idp):
    first = idp.ok("keys", "rotate", "--tenant", "kwsp")
    assert first["tenant"] == "kwsp" and first["step"] == "staged"
    assert sorted(k["state"] for k in first["keys"]) == ["active"] * 3 + ["staged"] * 3
    # new keys sign once workers (30 s) and relying parties' JWKS caches (60 s) have them
    early = idp.ok("keys", "rotate", "--tenant", "kwsp")
    assert early["step"] == "waiting" and sorted(k["state"] for k in early["keys"]) == ["active"] * 3 + ["staged"] * 3
    staged_at = max(datetime.fromisoformat(k["created_at"]) for k in early["keys"] if k["state"] == "staged")
    assert datetime.fromisoformat(early["promotable_after"]) == staged_at + timedelta(seconds=90)
    backdate_staged_keys(f"sqlite:///{idp.database}", by_seconds=90)
    second = idp.ok("keys", "rotate", "--tenant", "kwsp")
    assert second["step"] == "promoted"
    assert sorted(k["state"] for k in second["keys"]) == ["active"] * 3 + ["retired"] * 3
    retire_after = {datetime.fromisoformat(k["retire_after"]) for k in second["keys"] if k["state"] == "retired"}
    # published until every token a worker may still sign with it (until it reloads, 30 s) has
    # expired and left relying parties' JWKS caches: kwsp's ID tokens last an hour
    assert len(retire_after) == 1
    left = retire_after.pop() - datetime.now(timezone.utc)
    assert timedelta(hours=1, seconds=90) - timedelta(seconds=5) < left <= timedelta(hours=1, seconds=90)


def test_a_secret_that_does_not_open_the_keys_stops_the_command(idp, monkeypatch):
    """The same database with another IDP_SECRET_KEY (a second host, a shell without the
    secret): refused before anything is sealed with it, not a JWKS nobody can sign with."""
    idp.ok("keys", "list", "--tenant", "kwsp")
    before = idp.snapshot()
    monkeypatch.setenv("IDP_SECRET_KEY", "another-secret-key-0123456789abcdef")
    code, out, err = idp.run("keys", "rotate", "--tenant", "kwsp")
    assert code != 0 and out == "" and err.count("\n") == 1
    assert "IDP_SECRET_KEY does not open tenant" in err
    assert idp.snapshot() == before


def test_a_short_secret_key_is_refused(tmp_path):
    from idp.config import load_settings
    with pytest.raises(ValueError, match="IDP_SECRET_KEY is too short"):
        load_settings({"IDP_INSTANCE_DIR": str(tmp_path), "IDP_SECRET_KEY": "x" * 31})


@pytest.mark.parametrize("argv", [("keys", "list", "--tenant", "nope"), ("accounts", "sweep", "--tenant", "nope")])
def test_an_unknown_tenant_on_a_fresh_machine_makes_no_instance(idp, monkeypatch, tmp_path, argv):
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(fresh))
    monkeypatch.delenv("IDP_SECRET_KEY")
    monkeypatch.delenv("IDP_DATABASE_URL")
    code, out, err = idp.run(*argv)
    assert code == 2 and out == "" and err == "idp: unknown tenant 'nope'; known: kwap, kwsp, perkeso\n"
    assert not fresh.exists() or not any(fresh.iterdir())  # no secret key, database or keys


@pytest.mark.parametrize("argv", [
    ("user", "create", "--tenant", "kwsp", "--username", "abu", "--type", "member", "--temporary", "--phone",
     "0123456789"),
    ("accounts", "sweep"),
])
def test_a_command_away_from_the_providers_data_makes_none_of_its_own(idp, monkeypatch, tmp_path, argv):
    # a shell without the deployment's environment, in another directory: not a new, empty
    # database that the command then reports success on
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in ("IDP_INSTANCE_DIR", "IDP_DATABASE_URL", "IDP_SECRET_KEY", "IDP_OUTBOX_DIR"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = idp.run(*argv)
    assert code == 2 and out == "" and "neither IDP_DATABASE_URL nor IDP_INSTANCE_DIR" in err and err.count("\n") == 1
    assert not any(elsewhere.iterdir())  # no ./instance, database, secret or outbox


def test_tenants_check_reads_the_files_and_touches_no_instance(idp, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("IDP_INSTANCE_DIR", "IDP_DATABASE_URL"):
        monkeypatch.delenv(name)
    assert idp.ok("tenants", "check")["tenants"] == ["kwap", "kwsp", "perkeso"]
    broken = tmp_path / "definitions"
    broken.mkdir()
    (broken / "demo.toml").write_text('id = "demo"\nidentity_types = ["staff"]\n'
                                      '[display_name]\nms = "Demo"\nen = "Demo"\n[lockout]\nthreshold = "ten"\n')
    code, out, err = idp.run("tenants", "check", "--dir", str(broken))
    assert code == 1 and out == "" and "demo.toml: lockout.threshold: " in err
    assert not (tmp_path / "instance").exists()


def test_a_short_secret_key_from_the_environment_is_refused_before_anything_is_sealed(idp, monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_SECRET_KEY", "x")  # how production sets it
    code, out, err = idp.run("keys", "list", "--tenant", "kwsp")
    assert code != 0 and "IDP_SECRET_KEY is too short" in err
    assert not list(tmp_path.glob("*.sqlite3"))


# --- bad input changes nothing ---------------------------------------------------------------

BAD = {
    "unknown tenant": client_create("--redirect-uri", REDIRECT, tenant="nope", client_id="other"),
    "unknown tenant for a user": user_create("--password", "correct horse battery staple", tenant="nope"),
    "unknown tenant for keys": ("keys", "rotate", "--tenant", "nope"),
    "duplicate username": user_create("--password", "another long password"),
    "duplicate username, other case": user_create("--temporary", "--phone", "0123456789", username="ALI"),
    "duplicate client id": client_create("--redirect-uri", REDIRECT),
    "public resource server": client_create("--redirect-uri", REDIRECT, "--auth-method", "none", "--resource-server",
                                            client_id="other"),
    "malformed redirect URI": client_create("--redirect-uri", "not a uri", client_id="other"),
    "redirect URI with a fragment": client_create("--redirect-uri", "https://rp.example/cb#x", client_id="other"),
    "http redirect URI off loopback": client_create("--redirect-uri", "http://rp.example/cb", client_id="other"),
    "unknown grant type": client_create("--redirect-uri", REDIRECT, "--grant-type", "implicit", client_id="other"),
    "public client with client_credentials": client_create(
        "--auth-method", "none", "--grant-type", "client_credentials", client_id="other"),
    "unknown identity type for the tenant": user_create(
        "--temporary", "--email", "a@example.com", tenant="perkeso", username="abu", identity_type="member"),
    "bad phone number": user_create("--temporary", "--phone", "12345", username="abu"),
    "temporary member without phone": user_create("--temporary", username="abu"),
    "bad MyKad": user_create("--password", "correct horse battery staple", "--national-id", "901301-14-5678",
                             username="abu"),
    "redirect URI port out of range": client_create("--redirect-uri", "http://127.0.0.1:99999/cb", client_id="other"),
    "redirect URI port not a number": client_create("--redirect-uri", "http://127.0.0.1:abc/cb", client_id="other"),
    "client name not UTF-8": client_create("--redirect-uri", REDIRECT, "--name", "\udcff", client_id="other"),
    "user name not UTF-8": user_create("--password", "correct horse battery staple", "--name", "\udcff",
                                       username="abu"),
    "password with the tenant's name (as self-service refuses it)": user_create(
        "--password", "akaunakaunakaun", username="abu"),
    **{f"email {email}": user_create("--password", "correct horse battery staple", "--email", email, username="abu")
       for email in ("abu@", "@example.com", "abu@klinik@example.com", "abu")},
    "member number too long": user_create("--password", "correct horse battery staple", "--member-number",
                                          "9" * 40, username="abu"),
    **{f"redirect URI {uri!r}": client_create("--redirect-uri", uri, client_id="other")
       for uri in ("https://rp.example/c\nb", "https://rp.example/c\tb", " https://rp.example/cb",
                   "https://rp.example/c b", "https://rp.example/cb<script>", "https://user:pw@rp.example/cb",
                   "https://rp.example/" + "a" * 2000)},
    "empty back-channel logout URI": client_create("--redirect-uri", REDIRECT, "--backchannel-logout-uri", "",
                                                   client_id="other"),
    "a public client with a secret": client_create("--redirect-uri", REDIRECT, "--auth-method", "none",
                                                   "--secret", "s" * 24, client_id="other"),
    "an empty secret": client_create("--redirect-uri", REDIRECT, "--secret", "", client_id="other"),
    "keys for a client that signs in with a secret": client_create(
        "--redirect-uri", REDIRECT, "--jwks", json.dumps({"keys": [PUBLIC_JWK]}), client_id="other"),
    "scope with a quote": client_create("--redirect-uri", REDIRECT, "--scope", 'openid "api"', client_id="other"),
    "scope not ASCII": client_create("--redirect-uri", REDIRECT, "--scope", "openid profilé", client_id="other"),
    "empty scope": client_create("--redirect-uri", REDIRECT, "--scope", " ", client_id="other"),
    "client name too long": client_create("--redirect-uri", REDIRECT, "--name", "n" * 201, client_id="other"),
    "client name with a line break": client_create("--redirect-uri", REDIRECT, "--name", "a\nb", client_id="other"),
    "actor not UTF-8": ("accounts", "terminate", "--tenant", "kwsp", "--username", "ali", "--actor", "\udcff"),
    "actor with a line break": ("accounts", "deactivate", "--tenant", "kwsp", "--username", "ali", "--actor", "a\nb"),
    "number not UTF-8": ("accounts", "set-phone", "--tenant", "kwsp", "--username", "ali", "--phone", "\udcff"),
    "a missing option": ("user", "create", "--tenant", "kwsp"),
    "update of an unknown client": ("client", "update", "--tenant", "kwsp", "--client-id", "nope", "--scope", "openid"),
    "update to a malformed redirect URI": ("client", "update", "--tenant", "kwsp", "--client-id", "portal",
                                           "--redirect-uri", "not a uri"),
    "update giving keys to a client with a secret": ("client", "update", "--tenant", "kwsp", "--client-id", "portal",
                                                     "--jwks", json.dumps({"keys": [PUBLIC_JWK]})),
    "update leaving a code client no redirect URI": ("client", "update", "--tenant", "kwsp", "--client-id", "portal",
                                                     "--grant-type", "authorization_code", "--scope", "openid",
                                                     "--redirect-uri", ""),
    "update with a secret": client_update("portal", "--secret", "s" * 24),
    "update between secret methods with a secret": client_update("portal", "--auth-method", "client_secret_post",
                                                                 "--secret", "s" * 24),
    "update to private_key_jwt without keys": client_update("portal", "--auth-method", "private_key_jwt"),
    "update to private_key_jwt with a secret": client_update("portal", "--auth-method", "private_key_jwt", "--jwks",
                                                             json.dumps({"keys": [PUBLIC_JWK]}), "--secret", "s" * 24),
    "update to a public client": client_update("portal", "--auth-method", "none"),
    "update to an unknown auth method": client_update("portal", "--auth-method", "client_secret_jwt"),
    "a new secret too short": ("client", "rotate-secret", "--tenant", "kwsp", "--client-id", "portal",
                               "--secret", "short"),
    "a new secret for an unknown client": ("client", "rotate-secret", "--tenant", "kwsp", "--client-id", "nope"),
    "delete of an unknown client": ("client", "delete", "--tenant", "kwsp", "--client-id", "nope"),
    "update clearing what it sets": ("client", "update", "--tenant", "kwsp", "--client-id", "portal", "--clear", "name",
                                     "--name", "i-Akaun"),
    "a helpdesk action without --actor": ("accounts", "deactivate", "--tenant", "kwsp", "--username", "ali"),
    "both --password and --temporary": user_create("--password", "correct horse battery staple", "--temporary",
                                                   username="abu"),
    "a member for an organisation": user_create("--password", "correct horse battery staple", "--org", "E1",
                                                username="abu"),
    **{f"serve {' '.join(extra)}": ("serve", *extra)
       for extra in (("--port", "70000"), ("--port", "-1"), ("--workers", "0"), ("--host", "localhost"))},
    **{f"jwks {jwks}": client_create("--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt", "--jwks", jwks,
                                     client_id="other")
       for jwks in ("5", '"str"', "[1, 2]", '{"keys": []}', '{"keys": [{"kty": "zzz"}]}',
                    '{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}')},
}


@pytest.mark.parametrize("jwks, says", [
    ("[1]", "jwks must be a JWK Set"), ('{"keys": [1]}', "jwks must be a JWK Set"), ('{"keys": 5}', "jwks must be"),
    ('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "only public RSA, EC or OKP keys"),
])
def test_jwks_refusals_say_what_was_expected_and_warn_of_nothing(populated, jwks, says):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # joserfc's SecurityWarning went to stderr before the refusal
        code, _, err = populated.run(*client_create("--redirect-uri", REDIRECT, "--auth-method", "private_key_jwt",
                                                    "--jwks", jwks, client_id="other"))
    assert code == 2 and says in err and err.count("\n") == 1, err


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_fails_with_one_line_and_changes_nothing(populated, case):
    idp = populated
    before = idp.snapshot()
    assert len(before["rows"]["clients"]) == 1 and len(before["rows"]["accounts"]) == 1

    code, out, err = idp.run(*BAD[case])

    assert code != 0
    assert out == ""
    assert err.startswith("idp: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert idp.snapshot() == before


# --- idp serve -------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("public_url", [True, False])
def test_serve_answers_for_every_tenant_and_stops_on_ctrl_c(tmp_path, public_url):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_INSTANCE_DIR=str(tmp_path))
    if public_url:
        env.update(IDP_PUBLIC_URL=base)  # else the issuers follow --port (`make run PORT=...`)
    script = Path(sys.executable).with_name("idp")
    # its own process group, as a terminal's Ctrl-C reaches the server and its workers
    server = subprocess.Popen([str(script), "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        pending, deadline = {"kwsp", "perkeso", "kwap"}, time.monotonic() + 30
        while pending and time.monotonic() < deadline and server.poll() is None:
            for tenant in sorted(pending):
                try:
                    status, body = _get_json(f"{base}/t/{tenant}/.well-known/openid-configuration")
                except OSError:
                    time.sleep(0.1)
                    break
                assert status == 200
                assert body["issuer"] == f"{base}/t/{tenant}"
                pending.discard(tenant)
        assert not pending, server.stdout.read1().decode(errors="replace") if server.poll() is not None else pending

        os.killpg(server.pid, signal.SIGINT)
        started = time.monotonic()
        output, _ = server.communicate(timeout=10)
        assert time.monotonic() - started < 10
        assert server.returncode == 0, output.decode(errors="replace")
        assert b"Traceback" not in output
        assert (tmp_path / "secret_key").exists()  # generated on first start, in the instance dir
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.parametrize("variable, value", [
    ("IDP_PUBLIC_URL", "login.example.gov.my"), ("IDP_PUBLIC_URL", "https://login.example.gov.my?x=1"),
    ("IDP_PUBLIC_URL", "https://login.example.gov.my/sso"), ("IDP_PUBLIC_URL", "http://login.example.gov.my"),
    ("IDP_PUBLIC_URL", "https://login.example.gov.my?"), ("IDP_PUBLIC_URL", "https://login.example.gov.my#"),
    ("IDP_PUBLIC_URL", " https://login.example.gov.my"), ("IDP_PUBLIC_URL", "https://login.exa\tmple.gov.my"),
    ("IDP_PROXY_HOPS", "yes"), ("IDP_PROXY_HOPS", "-1"),
])
def test_a_malformed_deployment_setting_stops_serve_in_one_line(populated, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    code, out, err = populated.run("serve", "--port", str(_free_port()))
    assert code == 2 and out == "" and err.count("\n") == 1 and f"{variable} {value!r} must be" in err, err


def test_an_empty_secret_key_file_stops_start_up(tmp_path, monkeypatch):
    # e.g. left by a crash mid-write by an older version: an empty master key would sign nothing
    from idp.config import load_settings
    monkeypatch.delenv("IDP_SECRET_KEY", raising=False)
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(ValueError, match="no usable secret"):
        load_settings({"IDP_INSTANCE_DIR": str(tmp_path)})
    (tmp_path / "secret_key").unlink()
    assert len(load_settings({"IDP_INSTANCE_DIR": str(tmp_path)})["IDP_SECRET_KEY"]) >= 32
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")] == []  # no drafts left


# --- a failed helpdesk or provisioning command changes nothing -------------------------------

def _gateway_down(monkeypatch):
    monkeypatch.setenv("IDP_SMS_BACKEND", "http")
    monkeypatch.setenv("IDP_SMS_HTTP_URL", f"http://127.0.0.1:{_free_port()}/")  # nothing listens there
    monkeypatch.setenv("IDP_SMS_HTTP_BACKOFF", "0")


def _rows_but_audit(snapshot):
    return {table: rows for table, rows in snapshot["rows"].items() if table != "audit_events"}


def test_unlock_of_an_active_account_clears_nothing(populated):
    from idp.config import load_settings
    from idp.provider import Provider
    provider = Provider(load_settings())
    provider.sign_in(provider.tenants["kwsp"], "ali", "a wrong guess", None)  # a failure counted
    before = populated.snapshot()
    code, _, err = populated.run("accounts", "unlock", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:1")
    assert code == 2 and "unlock is for an account that is locked; this one is active" in err
    assert populated.snapshot() == before


def test_a_temporary_password_that_cannot_be_sent_leaves_no_account(populated, monkeypatch):
    before = populated.snapshot()
    _gateway_down(monkeypatch)
    code, out, err = populated.run(*user_create("--temporary", "--phone", "0123456789", username="ahli77"))
    assert code == 1 and out == "" and "SMS gateway" in err
    after = populated.snapshot()
    assert _rows_but_audit(after) == _rows_but_audit(before)
    assert [row for row in after["rows"]["audit_events"] if "delivery_failed" in row]  # the attempt is audited
    code, out, _ = populated.run("accounts", "show", "--tenant", "kwsp", "--username", "ahli77")
    assert code == 2
    monkeypatch.delenv("IDP_SMS_BACKEND")  # the gateway is back: the same command now works
    assert populated.ok(*user_create("--temporary", "--phone", "0123456789", username="ahli77"))["state"] == \
        "pending_activation"
    trail = populated.ok("accounts", "show", "--tenant", "kwsp", "--username", "ahli77")["audit"]
    assert [e["event"] for e in trail] == ["account.created", "account.credential_issued"]


def test_a_reissue_of_an_active_account_says_why_whatever_its_phone(populated):
    populated.ok(*user_create("--password", "correct horse battery staple", username="ahli90"))  # no phone
    code, _, err = populated.run("accounts", "reissue", "--tenant", "kwsp", "--username", "ahli90",
                                 "--actor", "helpdesk:1")
    assert code == 2 and "cannot go from active to pending_activation" in err, err


def test_a_reissue_that_cannot_be_sent_keeps_the_old_credential(populated, monkeypatch):
    populated.ok(*user_create("--temporary", "--phone", "0123456789", username="ahli78"))
    before = populated.snapshot()
    _gateway_down(monkeypatch)
    code, out, err = populated.run("accounts", "reissue", "--tenant", "kwsp", "--username", "ahli78",
                                   "--actor", "helpdesk:1")
    assert code == 1 and out == "" and "SMS gateway" in err
    assert populated.snapshot() == before


@pytest.mark.parametrize("action", ["unlock", "reactivate"])
def test_the_helpdesk_cannot_make_a_pending_account_active(populated, action):
    # past its window a pending account is re-issued, never unlocked or reactivated (ASVS 6.4.1)
    populated.ok(*user_create("--temporary", "--phone", "0123456789", username="ahli50"))
    code, out, err = populated.run("accounts", action, "--tenant", "kwsp", "--username", "ahli50",
                                   "--actor", "helpdesk:1")
    assert code != 0 and f"{action} is for an account that is" in err
    assert populated.ok("accounts", "show", "--tenant", "kwsp", "--username", "ahli50")["state"] == "pending_activation"


def test_unlock_does_not_reactivate_a_deactivated_account(populated):
    populated.ok("accounts", "deactivate", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:1")
    code, _, _ = populated.run("accounts", "unlock", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:2")
    assert code != 0
    assert populated.ok("accounts", "show", "--tenant", "kwsp", "--username", "ali")["state"] == "deactivated"


@pytest.mark.parametrize("phone", ["", "   "])
def test_set_phone_without_a_number_is_refused(populated, phone):
    before = populated.snapshot()
    code, _, _ = populated.run("accounts", "set-phone", "--tenant", "kwsp", "--username", "ali", "--phone", phone,
                               "--actor", "counter:1")
    assert code != 0 and populated.snapshot() == before


def test_set_phone_on_a_terminated_account_is_refused(populated):
    populated.ok("accounts", "terminate", "--tenant", "kwsp", "--username", "ali", "--actor", "helpdesk:1")
    before = populated.snapshot()
    code, _, _ = populated.run("accounts", "set-phone", "--tenant", "kwsp", "--username", "ali",
                               "--phone", "0198765432", "--actor", "counter:1")
    assert code != 0 and populated.snapshot() == before


def test_an_action_with_the_store_down_is_refused_whole(populated, monkeypatch):
    # terminate writes the account, then ends sessions and grants in the store: refused before
    # the first, or the account would be terminated with its sessions alive, and unrepeatable
    before = populated.snapshot()
    monkeypatch.setenv("IDP_REDIS_URL", f"redis://127.0.0.1:{_free_port()}/0")
    for action in (("terminate",), ("reissue",), ("set-phone", "--phone", "0129998888")):
        code, out, err = populated.run("accounts", *action, "--tenant", "kwsp", "--username", "ali",
                                       "--actor", "helpdesk:1")
        assert (code, out) == (1, "") and err.count("\n") == 1 and "nothing was changed" in err, err
    assert populated.snapshot() == before


@pytest.mark.parametrize("variable, value, more", [
    ("IDP_SMS_BACKEND", "bogus", {}), ("IDP_EMAIL_BACKEND", "bogus", {}), ("IDP_SMS_BACKEND", "http", {}),
    ("IDP_EMAIL_BACKEND", "smtp", {}),  # no relay named: not a silent localhost
    ("IDP_SMTP_PORT", "abc", {"IDP_EMAIL_BACKEND": "smtp", "IDP_SMTP_HOST": "relay.example"}),
    ("IDP_SMS_HTTP_BACKOFF", "soon", {"IDP_SMS_BACKEND": "http", "IDP_SMS_HTTP_URL": "https://sms.example/send"}),
    ("IDP_SMS_HTTP_BACKOFF", "nan", {"IDP_SMS_BACKEND": "http", "IDP_SMS_HTTP_URL": "https://sms.example/send"}),
    ("IDP_SMTP_PORT", "0", {"IDP_EMAIL_BACKEND": "smtp", "IDP_SMTP_HOST": "relay.example"}),
    ("IDP_SMTP_PORT", "70000", {"IDP_EMAIL_BACKEND": "smtp", "IDP_SMTP_HOST": "relay.example"}),
])
def test_a_wrong_delivery_setting_stops_the_command_before_anything(populated, monkeypatch, variable, value, more):
    before = populated.snapshot()
    monkeypatch.delenv("IDP_SMS_HTTP_URL", raising=False)
    for name, setting in {variable: value, **more}.items():
        monkeypatch.setenv(name, setting)
    code, _, err = populated.run(*user_create("--temporary", "--phone", "0123456789", username="ahli79"))
    assert code == 2 and err.count("\n") == 1 and variable in err, err
    assert populated.snapshot() == before


def test_an_outbox_that_cannot_be_written_leaves_no_account(populated, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("IDP_OUTBOX_DIR", str(tmp_path / "a-file" / "outbox"))
    code, _, err = populated.run(*user_create("--temporary", "--phone", "0123456789", username="ahli80"))
    assert code == 1 and "could not be written" in err
    assert populated.run("accounts", "show", "--tenant", "kwsp", "--username", "ahli80")[0] == 2


def test_an_account_belongs_only_to_an_organisation_of_its_kind(populated):
    populated.ok("org", "create", "--tenant", "kwap", "--kind", "dialysis_centre", "--number", "PD-1", "--name", "P")
    populated.ok("org", "create", "--tenant", "kwap", "--kind", "employer", "--number", "E-1", "--name", "E")
    staff = ("--password", "correct horse battery staple")
    assert populated.ok(*user_create(*staff, "--org", "PD-1", tenant="kwap", username="staf1",
                                     identity_type="staff"))["state"] == "active"
    code, _, err = populated.run(*user_create(*staff, "--org", "E-1", tenant="kwap", username="staf2",
                                              identity_type="staff"))
    assert code == 2 and "cannot belong to employer" in err


def test_a_bad_worker_count_in_the_environment_is_one_line(populated, monkeypatch):
    monkeypatch.setenv("IDP_WORKERS", "abc")
    code, _, err = populated.run("serve", "--port", str(_free_port()))
    assert code == 2 and err.count("\n") == 1 and "IDP_WORKERS" in err, err
    assert populated.ok("keys", "list", "--tenant", "kwsp")["keys"]  # other commands do not read it


def test_serve_refuses_a_port_in_use_in_one_line(populated):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, out, err = populated.run("serve", "--port", str(taken.getsockname()[1]))
    assert code == 2 and out == "" and err.count("\n") == 1 and "cannot listen" in err, err
