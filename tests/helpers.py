"""Helper actions so tests read like journeys: register_client, make_user, authorize,
sign_in, login, exchange, read_sms."""
import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlsplit

from idp.clients import build_metadata
from idp.lifecycle import create_account

REDIRECT = "https://rp.example/cb"
PASSWORD = "correct horse battery staple"
# the user ID on a form that asks only for a password, for password managers (never posted)
USER_ID_FOR_MANAGERS = '<input type="text" id="username" autocomplete="username" value="{}" hidden readonly>'
SECRET = "portal-secret-0123456789"


def register_client(provider, tenant="kwsp", client_id="portal", secret=SECRET, **kw):
    kw.setdefault("redirect_uris", [REDIRECT])
    kw.setdefault("post_logout_redirect_uris", ["https://rp.example/bye"])
    kw.setdefault("grant_types", ["authorization_code", "refresh_token", "client_credentials"])
    kw.setdefault("scope", "openid profile email phone offline_access membership api")
    public = kw.get("auth_method") in ("none", "private_key_jwt")
    created = provider.clients.create(tenant, client_id, build_metadata(**kw), secret=None if public else secret)
    return created


def make_user(provider, tenant="kwsp", username="ali", password=PASSWORD, identity_type="member", **attrs):
    attrs.setdefault("name", "Ali bin Abu")
    attrs.setdefault("email", "ali@example.com")
    attrs.setdefault("phone", "012-3456789")
    return create_account(provider, provider.tenants[tenant], username=username, identity_type=identity_type,
                          password=password, actor="test", **attrs)


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def auth_params(client_id="portal", **extra):
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile email", "state": "st-" + secrets.token_hex(4), "nonce": "n-" + secrets.token_hex(4)}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def interaction_uid(url: str) -> str:
    """The interaction id in an interaction page's URL (which carries its language in the query)."""
    return urlsplit(url).path.rsplit("/", 1)[1]


def csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def authorize(browser, tenant="kwsp", **params):
    return browser.get(f"/t/{tenant}/authorize", query_string=auth_params(**params))


def sign_in(browser, response, username="ali", password=PASSWORD):
    """Follow an authorization response to the sign-in page, submit it, return the final
    response (normally the redirect to the client)."""
    assert response.status_code in (302, 303), response.data[:400]
    page = browser.get(response.headers["Location"])
    assert page.status_code == 200, page.data[:400]
    done = browser.post(response.headers["Location"], data={
        "csrf_token": csrf(page.get_data(as_text=True)), "username": username, "password": password})
    if done.status_code not in (302, 303):
        return done
    return browser.get(done.headers["Location"])


def login(browser, tenant="kwsp", username="ali", password=PASSWORD, **params) -> dict:
    """Sign in through the whole authorization request; returns the client's redirect query."""
    final = sign_in(browser, authorize(browser, tenant=tenant, **params), username, password)
    assert final.status_code in (302, 303), final.data[:400]
    return query(final.headers["Location"])


def signed_in_portal(app, scope="openid profile"):
    """On a fresh `app`: the kwsp portal and user, signed in with `scope` (without offline_access
    the grant is bound to the session). Returns provider, browser, the token response, the time
    of the sign-in and the tenant's idle timeout in seconds."""
    import time
    provider, browser = app.extensions["idp"], app.test_client()
    register_client(provider)
    make_user(provider)
    signed_in_at = time.time()
    body = exchange(browser, login(browser, scope=scope)["code"]).json
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    return provider, browser, body, signed_in_at, idle


def basic(client_id="portal", secret=SECRET):
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def exchange(browser, code, tenant="kwsp", client_id="portal", secret=SECRET, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return browser.post(f"/t/{tenant}/token", data=data, headers=basic(client_id, secret))


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def outbox(provider, channel="sms") -> list[dict]:
    from pathlib import Path
    path = Path(provider.settings["IDP_OUTBOX_DIR"]) / f"{channel}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def read_sms(provider, to=None) -> dict:
    """The newest SMS (to a number, when given)."""
    messages = [m for m in outbox(provider, "sms") if to is None or m["to"] == to]
    assert messages, "no SMS in the outbox"
    return messages[-1]


def submit_form(browser, page_response, url, **fields):
    """POST a form on the page at `url` with its CSRF token."""
    return browser.post(url, data={"csrf_token": csrf(page_response.get_data(as_text=True)), **fields})


def open_reset_link(browser, link):
    """Open an emailed reset link: a page that asks, then its form (the POST uses the link)."""
    path = link.replace("http://127.0.0.1:8000", "")
    page = browser.get(path)
    assert page.status_code == 200, page.data[:300]
    return submit_form(browser, page, path)


def follow(browser, response):
    """Follow redirects within the provider (stops at the client's redirect URI)."""
    while response.status_code in (302, 303) and not response.headers["Location"].startswith("https://rp.example"):
        response = browser.get(response.headers["Location"])
    return response


def backdate_staged_keys(database_url: str, by_seconds: float = 600) -> None:
    """As if the staged signing keys had been published `by_seconds` ago: a rotation promotes
    them only once workers and relying parties' JWKS caches have had time to see them."""
    from datetime import timedelta

    from sqlalchemy import create_engine, select, update

    from idp.storage.models import SigningKeyRow
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            staged = connection.execute(select(SigningKeyRow.tenant_id, SigningKeyRow.kid, SigningKeyRow.created_at)
                                        .where(SigningKeyRow.state == "staged")).all()
            for tenant_id, kid, created_at in staged:
                connection.execute(update(SigningKeyRow).where(SigningKeyRow.tenant_id == tenant_id,
                                                               SigningKeyRow.kid == kid)
                                   .values(created_at=created_at - timedelta(seconds=by_seconds)))
    finally:
        engine.dispose()
