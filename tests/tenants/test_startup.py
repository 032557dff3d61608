"""A malformed tenant file stops start-up (app factory and every CLI command) with one line
naming the file, the field and the reason, before anything is written."""
import pytest

from idp import create_app
from idp.cli import main
from tenants import TenantConfigError, default_tenants_dir


@pytest.fixture
def bad_dir(tmp_path):
    directory = tmp_path / "tenants"
    directory.mkdir()
    for seed in default_tenants_dir().glob("*.toml"):
        (directory / seed.name).write_text(seed.read_text(encoding="utf-8"), encoding="utf-8")
    kwsp = directory / "kwsp.toml"
    kwsp.write_text(kwsp.read_text(encoding="utf-8").replace("threshold = 10", "threshold = 101"), encoding="utf-8")
    return directory


@pytest.fixture
def env(tmp_path, bad_dir, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("IDP_INSTANCE_DIR", str(instance))
    monkeypatch.setenv("IDP_TENANTS_DIR", str(bad_dir))
    monkeypatch.setenv("IDP_SECRET_KEY", "test-secret-key-0123456789abcdef")
    for name in ("IDP_DATABASE_URL", "IDP_REDIS_URL", "IDP_OUTBOX_DIR"):
        monkeypatch.delenv(name, raising=False)
    return instance


def test_create_app_refuses_to_start(settings, bad_dir):
    with pytest.raises(TenantConfigError) as info:
        create_app({**settings, "IDP_TENANTS_DIR": str(bad_dir)})
    assert (info.value.file, info.value.field) == (str(bad_dir / "kwsp.toml"), "lockout.threshold")


@pytest.mark.parametrize("argv", [
    ["client", "create", "--tenant", "kwsp", "--client-id", "portal", "--redirect-uri", "https://rp.example/cb"],
    ["user", "create", "--tenant", "perkeso", "--username", "majikan1", "--type", "employer", "--temporary",
     "--email", "hr@example.com"],
    ["keys", "rotate", "--tenant", "kwap"],
    ["serve", "--port", "1"],
])
def test_cli_refuses_to_start(env, bad_dir, capsys, argv):
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"idp: {bad_dir / 'kwsp.toml'}: lockout.threshold: between 1 and 100 (NIST SP 800-63B)\n"
    assert not (env / "idp.sqlite3").exists()  # stopped before touching the database
    assert not (env / "outbox").exists()
