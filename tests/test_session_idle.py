"""SSO sessions end after the tenant's inactivity timeout (ASVS 7.3.1); each use keeps one alive
(recorded at most once a minute), and the absolute lifetime still applies."""
import time

from tests.helpers import authorize, login


def _at(monkeypatch, moment):
    monkeypatch.setattr("idp.sessions.time.time", lambda: moment)


def _signed_in(browser):
    response = authorize(browser, prompt="none")
    return "code=" in response.headers["Location"]


def test_an_unused_session_ends_after_the_idle_timeout(browser, provider, rp, user, monkeypatch):
    login(browser)
    signed_in_at = time.time()
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle + 5)
    assert not _signed_in(browser)  # prompt=none: login_required


def test_use_keeps_the_session_alive(browser, provider, rp, user, monkeypatch):
    signed_in_at = time.time()
    login(browser)
    idle = provider.tenants["kwsp"].tokens.session_idle_timeout.total_seconds()
    _at(monkeypatch, signed_in_at + idle - 60)
    assert _signed_in(browser)
    _at(monkeypatch, signed_in_at + 2 * idle - 120)  # idle - 60 after that use, 2 x idle - 120 after sign-in
    assert _signed_in(browser)
