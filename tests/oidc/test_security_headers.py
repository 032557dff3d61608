"""Clickjacking defence on every page (RFC 9700 4.16), no caching of pages or tokens (RFC 6749 5.1),
and no Referer leaking codes."""
import pytest

from tests.helpers import authorize, basic
from tests.oidc.support import tokens


def assert_frame_denied(response):
    assert response.mimetype == "text/html"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_sign_in_page_cannot_be_framed(browser, rp):
    page = browser.get(authorize(browser).headers["Location"])
    assert page.status_code == 200
    assert_frame_denied(page)


@pytest.mark.parametrize("path", [
    "/t/kwsp/authorize?client_id=nobody&response_type=code&redirect_uri=https://rp.example/cb",
    "/t/kwsp/logout",
    "/t/kwsp/interaction/no-such-interaction",
    "/t/kwsp/authorize/resume/no-such-interaction",
    "/t/kwsp/no-such-page",
    "/t/nope/authorize",
])
def test_every_page_cannot_be_framed(browser, rp, path):
    assert_frame_denied(browser.get(path))


def test_logout_confirmation_cannot_be_framed(browser, rp, user):
    tokens(browser)
    page = browser.get("/t/kwsp/logout")
    assert 'name="csrf_token"' in page.get_data(as_text=True)
    assert_frame_denied(page)


def test_csp_allows_no_inline_script_without_nonce(browser, rp):
    page = browser.get(authorize(browser).headers["Location"])
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_token_endpoint_responses_not_cached(browser, rp, user):
    body = tokens(browser)
    responses = [
        browser.post("/t/kwsp/token", headers=basic(), data={"grant_type": "refresh_token",
                                                             "refresh_token": body["refresh_token"]}),
        browser.post("/t/kwsp/token", headers=basic(), data={"grant_type": "client_credentials"}),
        browser.post("/t/kwsp/token", data={"grant_type": "client_credentials"}),
        browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}),
        browser.post("/t/kwsp/token/introspect", headers=basic(), data={"token": body["access_token"]}),
        browser.post("/t/kwsp/token/revoke", headers=basic(), data={"token": body["access_token"]}),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store", response.request.path
        assert response.headers["Pragma"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_discovery_and_jwks_cacheable(browser):
    assert "max-age" in browser.get("/t/kwsp/.well-known/openid-configuration").headers["Cache-Control"]
    assert "max-age" in browser.get("/t/kwsp/jwks").headers["Cache-Control"]
