"""A whole sign-in against the real server (`idp serve`) by a relying party nobody here wrote:
panva's `openid-client` (npm, v6) in tests/e2e/rp/rp.mjs.

The library does discovery, PKCE (S256), state and nonce, checks the authorization response
(state, iss), validates the ID token strictly (signature against the JWKS, iss, aud, exp, nonce,
alg), checks the UserInfo `sub`, and calls refresh, introspection, revocation and builds the
end-session URL. This side plays the browser: it follows redirects and fills the sign-in form
over HTTP with a cookie jar, then asserts on what the library printed."""
import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests

from tests.e2e.live import PASSWORD, required

RP_DIR = Path(__file__).parent / "rp"
CLIENT_ID = "oc-rp"
CLIENT_SECRET = "oc-rp-secret-0123456789abcdef"
REDIRECT_URI = "http://127.0.0.1:9000/cb"
POST_LOGOUT_URI = "http://127.0.0.1:9000/bye"
SCOPE = "openid profile email phone offline_access"


@pytest.fixture(scope="module")
def node_rp():
    """Run rp.mjs; npm-installs openid-client first when tests/e2e/rp/node_modules lacks it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    required(bool(node and npm), "node and npm are needed to run the openid-client relying party")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    required(int(version.lstrip("v").split(".")[0]) >= 20, f"openid-client v6 needs Node 20+, found {version}")
    if not (RP_DIR / "node_modules" / "openid-client" / "package.json").exists():
        install = "ci" if (RP_DIR / "package-lock.json").exists() else "install"
        done = subprocess.run([npm, install, "--no-audit", "--no-fund", "--loglevel=error"], cwd=RP_DIR,
                              capture_output=True, text=True, timeout=120)
        required(done.returncode == 0, f"npm {install} in {RP_DIR} failed: {done.stderr.strip()[-500:]}")

    def run(command: str, payload: dict) -> dict:
        done = subprocess.run([node, "rp.mjs", command], cwd=RP_DIR, input=json.dumps(payload),
                              capture_output=True, text=True, timeout=30)
        lines = done.stdout.strip().splitlines()
        out = json.loads(lines[-1]) if lines else {}
        assert done.returncode == 0 and "error" not in out, \
            f"rp.mjs {command} failed ({done.returncode}): {out.get('error', out)}\n{done.stderr[-2000:]}"
        return out
    return run


@pytest.fixture(scope="module")
def registered(idp_server):
    client = idp_server.create_client("kwsp", CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], [POST_LOGOUT_URI],
                                      scope=SCOPE)
    user = idp_server.create_user("kwsp", "aminah88", name="Aminah binti Ahmad", email="aminah@example.com",
                                  phone="012-3456789")
    return client, user


def csrf_token(html: str) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no csrf_token in the sign-in page:\n{html[:1500]}"
    return match.group(1)


def browse(session: requests.Session, url: str, stop_at: str, username=None, password=PASSWORD) -> str:
    """Be the browser: follow the provider's redirects from `url`, fill the sign-in form once if it
    is shown, and return the first redirect that leaves for `stop_at` (the RP, not listening)."""
    response = session.get(url, allow_redirects=False, timeout=10)
    submitted = False
    for _ in range(10):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                return location
            response = session.get(location, allow_redirects=False, timeout=10)
        elif response.status_code == 200 and 'name="password"' in response.text and not submitted and username:
            response = session.post(response.url, allow_redirects=False, timeout=10, data={
                "csrf_token": csrf_token(response.text), "username": username, "password": password})
            submitted = True
        else:
            raise AssertionError(f"unexpected {response.status_code} at {response.url}:\n{response.text[:1500]}")
    raise AssertionError("too many redirects")


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def silent_authorize(idp_server, session) -> dict:
    """prompt=none from the same browser: a code while the SSO session lives, login_required after."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "silent", "nonce": secrets.token_urlsafe(8), "prompt": "none",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    return query(browse(session, f"{idp_server.issuer()}/authorize?{urlencode(params)}", REDIRECT_URI))


def test_sign_in_refresh_introspect_revoke_and_logout_through_openid_client(idp_server, node_rp, registered):
    _, user = registered
    issuer = idp_server.issuer("kwsp")
    config = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "redirect_uri": REDIRECT_URI, "scope": SCOPE}

    # 1. the RP discovers the provider and builds the authorization URL (PKCE S256, state, nonce)
    started = node_rp("start", config)
    assert started["server"]["issuer"] == issuer
    auth_url = started["authorization_url"]
    assert auth_url.startswith(f"{issuer}/authorize?")
    sent = query(auth_url)
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["state"] == started["state"] and sent["nonce"] == started["nonce"]

    # 2. the user signs in through the provider's form; the provider redirects to the RP
    with requests.Session() as browser:
        callback = browse(browser, auth_url, REDIRECT_URI, username="aminah88")
        returned = query(callback)
        assert returned["state"] == started["state"] and returned["iss"] == issuer and returned["code"]

        # 3. the RP completes the grant with strict checks and uses every other endpoint
        out = node_rp("finish", {**config, "callback_url": callback, "state": started["state"],
                                 "nonce": started["nonce"], "code_verifier": started["code_verifier"],
                                 "post_logout_redirect_uri": POST_LOGOUT_URI, "logout_state": "bye-42"})

        claims = out["id_token_claims"]
        assert claims["iss"] == issuer and claims["sub"] == user["id"] and claims["nonce"] == started["nonce"]
        assert claims["aud"] == CLIENT_ID or claims["aud"] == [CLIENT_ID]
        assert isinstance(claims["auth_time"], int) and claims["exp"] > claims["iat"]
        assert "pwd" in claims.get("amr", ["pwd"])
        assert out["token_type"].lower() == "bearer" and out["expires_in"] > 0

        info = out["userinfo"]
        assert info["sub"] == user["id"]
        assert info["name"] == "Aminah binti Ahmad" and info["email"] == "aminah@example.com"
        assert info.get("phone_number", "").endswith("123456789")

        refresh = out["refresh"]
        assert refresh["access_token_changed"] and refresh["refresh_token_rotated"]
        if refresh["id_token_claims"]:  # OIDC Core 12.2: same iss, sub, aud and auth_time; no nonce
            again = refresh["id_token_claims"]
            assert {k: again.get(k) for k in ("iss", "sub", "aud", "auth_time")} == \
                {k: claims.get(k) for k in ("iss", "sub", "aud", "auth_time")}
            assert "nonce" not in again

        before, after = out["introspection"]["before"], out["introspection"]["after"]
        assert before["access_token"]["active"] is True
        assert before["access_token"]["sub"] == user["id"] and before["access_token"]["client_id"] == CLIENT_ID
        assert before["refresh_token"]["active"] is True
        assert after["refresh_token"] == {"active": False}
        assert after["access_token"] == {"active": False}, "revoking the refresh token revokes its access tokens"
        assert out["refresh_after_revocation"]["error"] == "invalid_grant"

        # 4. RP-initiated logout: back to the registered post_logout_redirect_uri with the RP's state
        end_session = out["end_session_url"]
        assert end_session.startswith(f"{issuer}/logout?")
        assert query(end_session)["post_logout_redirect_uri"] == POST_LOGOUT_URI
        assert silent_authorize(idp_server, browser).get("code"), "SSO session before logout"
        response = browser.get(end_session, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text[:800]
        assert response.headers["Location"] == f"{POST_LOGOUT_URI}?state=bye-42"
        assert silent_authorize(idp_server, browser)["error"] == "login_required", "the session has ended"
