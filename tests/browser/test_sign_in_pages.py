"""The sign-in pages in a real browser (Debian's chromium driven by Playwright) against the real
server (`idp serve`), with a small local relying party that records what reaches its redirect URI.

Journeys: sign-in in Malay (a browser set to Malay) and English (ui_locales=en, the page's own
link, or a browser set to English) by the visible labels; the same error for an unknown user and a wrong password; response_mode=form_post
auto-submitting to the RP under the page's CSP; and the sign-in page refusing to be framed."""
import base64
import hashlib
import html
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from tests.e2e.live import PASSWORD, required

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CLIENT_ID = "web-portal"
CLIENT_SECRET = "web-portal-secret-0123456789"
USERNAME = "siti77"
SCREENSHOT = Path("/tmp/signin.png")


class RecordingRP:
    """A tiny relying party on a free port: records every request to /cb (GET query or POSTed form)
    and serves /frame?src=URL, a page that tries to frame URL."""

    def __init__(self):
        self.received = []
        rp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, body: str):
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/frame":
                    self._reply(f'<!doctype html><title>RP</title><iframe id="idp" src="{html.escape(params["src"])}"'
                                ' width="600" height="400"></iframe>')
                    return
                if parts.path != "/cb":
                    self.send_error(404)
                    return
                rp.received.append({"method": "GET", "path": parts.path, "params": params})
                self._reply("<!doctype html><title>RP</title><p id=rp>received</p>")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                rp.received.append({"method": "POST", "path": urlsplit(self.path).path, "params": form,
                                    "content_type": self.headers.get("Content-Type")})
                self._reply("<!doctype html><title>RP</title><p id=rp>received</p>")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.redirect_uri = f"{self.base}/cb"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def chromium():
    required(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        required(False, "the python playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def rp(idp_server):
    server = RecordingRP()
    idp_server.create_client("kwsp", CLIENT_ID, CLIENT_SECRET, [server.redirect_uri], scope="openid profile email")
    idp_server.create_user("kwsp", USERNAME, name="Siti binti Hassan", email="siti@example.com")
    yield server
    server.close()


@pytest.fixture
def page(chromium):
    """A fresh browser profile (no cookies), set to Malay as most of the portals' users' are,
    whose console messages and page errors are kept."""
    context = chromium.new_context(locale="ms-MY")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console = []

    def keep(message):
        where = (message.location or {}).get("url", "")
        if not where.endswith("/favicon.ico"):  # the browser's own favicon probe (neither side has one)
            page.console.append(f"{message.type}: {message.text} @ {where}")
    page.on("console", keep)
    page.on("pageerror", lambda error: page.console.append(f"pageerror: {error}"))
    yield page
    context.close()


def authorization_url(idp_server, rp, **extra) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = "st-" + secrets.token_hex(6)
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": rp.redirect_uri,
              "scope": "openid profile", "state": state, "nonce": secrets.token_hex(8),
              "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{idp_server.issuer('kwsp')}/authorize?{urlencode(params)}", state


def fill_and_submit(page, username_label, password_label, username, password):
    page.get_by_label(username_label, exact=True).fill(username)
    page.get_by_label(password_label, exact=True).fill(password)
    page.locator("form button[type=submit]").click()


def expect_code_at_rp(page, rp, idp_server, state, method="GET") -> dict:
    page.wait_for_url(f"{rp.redirect_uri}**")
    page.locator("#rp").wait_for()
    received = rp.received[-1]
    assert received["method"] == method and received["path"] == "/cb", received
    params = received["params"]
    assert params["code"] and params["state"] == state and params["iss"] == idp_server.issuer("kwsp"), params
    assert "error" not in params
    return received


def problems(page) -> list:
    """CSP violations, console errors and uncaught page errors seen so far."""
    return [m for m in page.console if "Content Security Policy" in m or m.startswith(("error", "pageerror"))]


def test_sign_in_in_malay_by_default(idp_server, rp, page):
    from playwright.sync_api import expect
    url, state = authorization_url(idp_server, rp)
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "ms")
    expect(page.locator("h1")).to_have_text("Log Masuk")
    expect(page.locator("label[for=username]")).to_have_text("ID Pengguna")
    expect(page.locator("label[for=password]")).to_have_text("Kata Laluan")
    expect(page.locator("form button[type=submit]")).to_have_text("Log Masuk")
    expect(page.locator("header")).to_contain_text("i-Akaun KWSP")
    expect(page.get_by_label("ID Pengguna", exact=True)).to_be_focused()  # autofocus
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    fill_and_submit(page, "ID Pengguna", "Kata Laluan", USERNAME, PASSWORD)
    expect_code_at_rp(page, rp, idp_server, state)
    assert not problems(page), page.console


def test_sign_in_in_english_with_ui_locales(idp_server, rp, page):
    from playwright.sync_api import expect
    url, state = authorization_url(idp_server, rp, ui_locales="en")
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("label[for=username]")).to_have_text("User ID")
    expect(page.locator("label[for=password]")).to_have_text("Password")
    expect(page.locator("header")).to_contain_text("EPF i-Akaun")
    assert "Pengguna" not in page.locator("main").inner_text()

    fill_and_submit(page, "User ID", "Password", USERNAME, PASSWORD)
    expect_code_at_rp(page, rp, idp_server, state)


def test_a_browser_set_to_english_gets_english_pages(idp_server, rp, chromium):
    from playwright.sync_api import expect
    context = chromium.new_context(locale="en-US")
    try:
        page = context.new_page()
        url, state = authorization_url(idp_server, rp)  # no ui_locales: the browser's Accept-Language
        page.goto(url)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        fill_and_submit(page, "User ID", "Password", USERNAME, "not the right passphrase")
        expect(page.get_by_role("alert")).to_have_text("Invalid user ID or password.")
        page.get_by_role("navigation", name="Language").get_by_role("link", name="Bahasa Melayu").click()
        expect(page.locator("html")).to_have_attribute("lang", "ms")  # the user's choice beats the browser's
        fill_and_submit(page, "ID Pengguna", "Kata Laluan", USERNAME, PASSWORD)
        expect_code_at_rp(page, rp, idp_server, state)
    finally:
        context.close()


def test_switching_to_english_on_the_page(idp_server, rp, page):
    from playwright.sync_api import expect
    url, state = authorization_url(idp_server, rp)  # no ui_locales: the browser's Malay
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "ms")
    page.get_by_role("navigation", name="Bahasa").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.get_by_role("navigation", name="Language").get_by_role("link")).to_have_text("Bahasa Melayu")

    fill_and_submit(page, "User ID", "Password", USERNAME, "not the right passphrase")
    expect(page.get_by_role("alert")).to_have_text("Invalid user ID or password.")  # still English
    fill_and_submit(page, "User ID", "Password", USERNAME, PASSWORD)
    expect_code_at_rp(page, rp, idp_server, state)
    assert not [m for m in page.console if "Content Security Policy" in m], page.console  # (the 400 is the refusal)


def test_wrong_password_and_unknown_user_look_the_same(idp_server, rp, page):
    from playwright.sync_api import expect
    url, state = authorization_url(idp_server, rp)
    page.goto(url)

    fill_and_submit(page, "ID Pengguna", "Kata Laluan", USERNAME, "not the right passphrase")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("ID Pengguna atau Kata Laluan tidak sah.")
    wrong_password = page.locator("main").inner_text()
    assert page.get_by_label("ID Pengguna", exact=True).input_value() == USERNAME
    assert page.get_by_label("Kata Laluan", exact=True).input_value() == ""  # never echoed back

    fill_and_submit(page, "ID Pengguna", "Kata Laluan", "nobody-here-99", "not the right passphrase")
    expect(alert).to_have_text("ID Pengguna atau Kata Laluan tidak sah.")
    assert page.locator("main").inner_text() == wrong_password
    assert page.get_by_label("ID Pengguna", exact=True).input_value() == "nobody-here-99"

    # the same form still signs the right user in afterwards
    fill_and_submit(page, "ID Pengguna", "Kata Laluan", USERNAME, PASSWORD)
    expect_code_at_rp(page, rp, idp_server, state)


def test_form_post_auto_submits_to_the_rp_under_csp(idp_server, rp, page):
    url, state = authorization_url(idp_server, rp, response_mode="form_post")
    policies = []
    page.on("response", lambda r: policies.append((r.url, r.headers.get("content-security-policy", ""))))
    page.goto(url)
    fill_and_submit(page, "ID Pengguna", "Kata Laluan", USERNAME, PASSWORD)
    received = expect_code_at_rp(page, rp, idp_server, state, method="POST")  # no click: the page's script
    assert received["content_type"] == "application/x-www-form-urlencoded"
    form_post_page = [csp for u, csp in policies if "/authorize/resume/" in u]
    assert form_post_page and "script-src 'nonce-" in form_post_page[0], policies
    assert "unsafe-inline" not in form_post_page[0].split("script-src")[1].split(";")[0]
    assert not problems(page), page.console


def test_sign_in_page_cannot_be_framed(idp_server, rp, page):
    url, _ = authorization_url(idp_server, rp)
    headers = {}
    page.on("response", lambda r: "/interaction/" in r.url and headers.update(r.headers))
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=10_000):
        page.goto(f"{rp.base}/frame?src={quote(url, safe='')}")
    assert headers.get("x-frame-options") == "DENY", headers
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), headers
    framed = page.frame_locator("#idp")
    assert framed.locator("input[name=password]").count() == 0
    assert not [m for m in page.console if m.startswith("pageerror")], page.console


def test_cancel_takes_the_user_back_to_the_portal(idp_server, rp, page):
    url, state = authorization_url(idp_server, rp)
    page.goto(url)
    page.get_by_role("link", name="Batal dan kembali ke portal").click()
    page.wait_for_url(f"{rp.redirect_uri}**")
    page.locator("#rp").wait_for()
    params = rp.received[-1]["params"]
    assert params["error"] == "access_denied" and params["state"] == state and "code" not in params
    assert params["iss"] == idp_server.issuer("kwsp")
    assert not problems(page), page.console
