"""The same journeys through the real pages for every tenant: lockout and its notice, forgot
password (TAC or emailed link, as the tenant says), forgot user ID."""
import re

import pytest

from tests.helpers import (PASSWORD, authorize, follow, make_user, open_reset_link, outbox, read_sms, register_client,
                           submit_form)

TENANTS = [("kwsp", "member"), ("perkeso", "employer"), ("kwap", "staff")]
NEW = "hujan turun di petang hari"


@pytest.fixture(params=TENANTS, ids=[t for t, _ in TENANTS])
def member(request, provider):
    tenant, kind = request.param
    register_client(provider, tenant=tenant)
    make_user(provider, tenant=tenant, username="pengguna1", identity_type=kind, national_id="850505-10-5151",
              phone="0167778888", email="pengguna1@example.com")
    return tenant


def sign_in_page(browser, tenant, username, password):
    url = authorize(browser, tenant=tenant).headers["Location"]
    return follow(browser, submit_form(browser, browser.get(url), url, username=username, password=password))


def test_lockout_through_the_pages(provider, browser, member):
    for _ in range(provider.tenants[member].lockout.threshold):
        page = sign_in_page(browser, member, "pengguna1", "bukan kata laluan saya")
        assert page.status_code == 400
    assert provider.accounts.find(member, "pengguna1").state == "locked"
    assert "pengguna1" not in read_sms(provider, "+60167778888")["text"]  # a notice, not a credential
    assert sign_in_page(browser, member, "pengguna1", PASSWORD).status_code == 400


def test_forgot_password_through_the_pages(provider, browser, member):
    start = browser.get(f"/t/{member}/account/forgot_password")
    url = start.headers["Location"]
    step = submit_form(browser, browser.get(url), url, username="pengguna1")
    if provider.tenants[member].accounts.recovery_by_email:
        link = re.search(r"(http://\S+/account/reset/\S+)", outbox(provider, "email")[-1]["text"]).group(1)
        url = open_reset_link(browser, link).headers["Location"]
        step = browser.get(url)
    else:
        code = re.search(r"\b(\d{6})\b", read_sms(provider, "+60167778888")["text"]).group(1)
        step = submit_form(browser, step, url, code=code)
    done = submit_form(browser, step, url, new_password=NEW, confirm_password=NEW)
    assert done.status_code == 200
    assert sign_in_page(browser, member, "pengguna1", NEW).headers["Location"].startswith("https://rp.example/cb")


def test_forgot_user_id_through_the_pages(provider, browser, member):
    if not provider.tenants[member].accounts.user_id_recovery:  # KWSP's "Lupa ID Pengguna" only
        page = follow(browser, authorize(browser, tenant=member)).get_data(as_text=True)
        assert "/account/forgot_password" in page and "/account/forgot_username" not in page
        assert browser.get(f"/t/{member}/account/forgot_username").status_code == 404
        return
    start = browser.get(f"/t/{member}/account/forgot_username")
    url = start.headers["Location"]
    done = submit_form(browser, browser.get(url), url, national_id="850505105151", phone="016-777 8888")
    assert done.status_code == 200
    assert "pengguna1" in read_sms(provider, "+60167778888")["text"]
