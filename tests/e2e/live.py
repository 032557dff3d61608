"""The real provider as a subprocess (`idp serve` on a free port), set up through the real CLI.

Used by tests/e2e and tests/browser: nothing here imports the provider; everything goes through
`.venv/bin/idp` with the environment a deployment would use."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.services import required  # noqa: F401 - re-exported for the e2e and browser tests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long passphrase here"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _idp_command() -> str:
    for candidate in (ROOT / ".venv" / "bin" / "idp", Path(sys.executable).parent / "idp"):
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("the idp command is not installed (pip install -e '.[test]')")


class LiveIdp:
    def __init__(self, instance: Path):
        self.instance = Path(instance)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = _idp_command()
        env = {k: v for k, v in os.environ.items() if k not in ("IDP_REDIS_URL", "IDP_TENANTS_DIR")}
        env.update(
            IDP_INSTANCE_DIR=str(self.instance),
            IDP_DATABASE_URL=f"sqlite:///{self.instance / 'idp.sqlite3'}",
            IDP_SECRET_KEY="e2e-secret-key-0123456789abcdef-live",
            IDP_PUBLIC_URL=self.base,
            IDP_OUTBOX_DIR=str(self.instance / "outbox"),
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.log_path = self.instance / "serve.log"
        self.process = None
        self._log = None

    def issuer(self, tenant="kwsp") -> str:
        return f"{self.base}/t/{tenant}"

    def cli(self, *args) -> dict:
        """Run `idp ARGS...` against this instance and return its JSON output."""
        done = subprocess.run([self.command, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"idp {' '.join(args)} -> {done.returncode}: {done.stderr.strip()}"
        return json.loads(done.stdout)

    def create_client(self, tenant, client_id, secret, redirect_uris, post_logout_redirect_uris=(),
                      scope="openid profile email phone offline_access") -> dict:
        args = ["client", "create", "--tenant", tenant, "--client-id", client_id, "--secret", secret,
                "--name", f"{client_id} (e2e)", "--scope", scope,
                "--grant-type", "authorization_code", "--grant-type", "refresh_token"]
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        for uri in post_logout_redirect_uris:
            args += ["--post-logout-redirect-uri", uri]
        return self.cli(*args)

    def create_user(self, tenant, username, password=PASSWORD, **attributes) -> dict:
        args = ["user", "create", "--tenant", tenant, "--username", username, "--type", "member",
                "--password", password]
        for name, value in attributes.items():
            args += [f"--{name.replace('_', '-')}", value]
        return self.cli(*args)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self, timeout=30.0) -> "LiveIdp":
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        discovery = f"{self.issuer()}/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self.stop()
                pytest.fail(f"idp serve exited with {code}:\n{self.log()}", pytrace=False)
            try:
                with requests.get(discovery, timeout=2) as response:
                    if response.status_code == 200 and response.json()["issuer"] == self.issuer():
                        return self
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"idp serve did not answer {discovery} within {timeout:.0f} s:\n{self.log()}",
                            pytrace=False)
            time.sleep(0.2)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # our own process group (start_new_session)
                process.wait(timeout=10)
        if process is not None:
            try:  # a granian worker left behind by its parent: same (our own) process group
                os.killpg(process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
