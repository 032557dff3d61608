"""Who may change a mobile number is a tenant policy (issue 4, item 4)."""
import re

from idp.cli import main
from tests.helpers import PASSWORD, USER_ID_FOR_MANAGERS, login, make_user, outbox, read_sms, register_client, submit_form


def code_in(sms):
    return re.search(r"\b(\d{6})\b", sms["text"]).group(1)


def test_kwsp_member_is_sent_to_the_counter(provider, browser, rp, user):
    login(browser)
    page = browser.get("/t/kwsp/account/phone_change")
    assert page.status_code == 403 and "kios atau kaunter KWSP" in page.get_data(as_text=True)


def test_kwap_staff_are_sent_to_kwaps_helpdesk_not_to_a_counter(provider, browser):
    # KWAP has no counters: its own sentence, from its tenant file, in the page's language
    register_client(provider, tenant="kwap")
    make_user(provider, tenant="kwap", username="staf01", identity_type="staff")
    login(browser, tenant="kwap", username="staf01", ui_locales="en")
    page = browser.get("/t/kwap/account/phone_change?ui_locales=en").get_data(as_text=True)
    assert "KWAP helpdesk at https://pension-assist.kwap.my" in page
    assert "counter" not in page.lower() and "{helpdesk}" not in page


def test_counter_changes_a_members_number_and_tells_the_old_one(provider, settings, monkeypatch, capsys, user):
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    assert main(["accounts", "set-phone", "--tenant", "kwsp", "--username", "ali", "--phone", "019-2223333",
                 "--actor", "counter:kl-02"]) == 0
    capsys.readouterr()
    assert provider.accounts.find("kwsp", "ali").phone == "+60192223333"
    assert "ditukar" in read_sms(provider, "+60123456789")["text"]
    event = provider.audit.events("kwsp", event="account.phone_changed")[-1]
    assert event.actor == "counter:kl-02" and "3333" not in event.detail["old"]


def test_employer_changes_their_own_number_with_tacs(provider, browser):
    register_client(provider, tenant="kwsp")
    make_user(provider, username="majikan", identity_type="employer", phone="0121112222")
    login(browser, username="majikan")
    start = browser.get("/t/kwsp/account/phone_change")
    url = start.headers["Location"]
    password_page = browser.get(url)
    # whose password, for the password manager: shown to no one and never posted
    assert USER_ID_FOR_MANAGERS.format("majikan") in password_page.get_data(as_text=True)
    tac_current = submit_form(browser, password_page, url, password=PASSWORD)
    assert b'name="code"' in tac_current.data
    new_number_page = submit_form(browser, tac_current, url, code=code_in(read_sms(provider, "+60121112222")))
    assert b'name="phone"' in new_number_page.data
    assert submit_form(browser, new_number_page, url, phone="12345").status_code == 400
    tac_new = submit_form(browser, new_number_page, url, phone="013-4445555")
    assert b'name="code"' in tac_new.data
    assert provider.accounts.find("kwsp", "majikan").phone == "+60121112222"  # not used before proved
    done = submit_form(browser, tac_new, url, code=code_in(read_sms(provider, "+60134445555")))
    assert done.status_code == 200
    assert provider.accounts.find("kwsp", "majikan").phone == "+60134445555"
    notices = [m for m in outbox(provider, "sms") if m["to"] == "+60121112222"]
    assert "ditukar" in notices[-1]["text"]


def test_a_flow_opened_before_a_sign_out_goes_no_further(provider, browser):
    # ASVS 7.4.1: the password and TAC given in it were for the session that ended, not for
    # whoever has the browser next
    register_client(provider, tenant="kwsp")
    make_user(provider, username="majikan", identity_type="employer", phone="0121112222")
    login(browser, username="majikan")
    url = browser.get("/t/kwsp/account/phone_change").headers["Location"]
    tac_current = submit_form(browser, browser.get(url), url, password=PASSWORD)
    new_number_page = submit_form(browser, tac_current, url, code=code_in(read_sms(provider, "+60121112222")))
    assert b'name="phone"' in new_number_page.data
    confirm = browser.get("/t/kwsp/logout")
    submit_form(browser, confirm, "/t/kwsp/logout")  # signed out
    assert browser.get(url).status_code == 401
    refused = submit_form(browser, new_number_page, url, phone="013-4445555")
    assert refused.status_code == 401 and "Sila log masuk" in refused.get_data(as_text=True)
    assert not [m for m in outbox(provider, "sms") if m["to"] == "+60134445555"]
    assert provider.accounts.find("kwsp", "majikan").phone == "+60121112222"


def test_a_new_number_signs_out_every_other_browser(app, provider, browser):
    # ASVS 7.4.3: the number receives the TACs, a factor; whoever else is signed in is signed out
    from tests.helpers import authorize, query
    register_client(provider, tenant="kwsp")
    make_user(provider, username="majikan", identity_type="employer", phone="0121112222")
    elsewhere = app.test_client()
    login(elsewhere, username="majikan")
    login(browser, username="majikan")
    url = browser.get("/t/kwsp/account/phone_change").headers["Location"]
    tac_current = submit_form(browser, browser.get(url), url, password=PASSWORD)
    new_number = submit_form(browser, tac_current, url, code=code_in(read_sms(provider, "+60121112222")))
    tac_new = submit_form(browser, new_number, url, phone="013-4445555")
    assert submit_form(browser, tac_new, url, code=code_in(read_sms(provider, "+60134445555"))).status_code == 200
    assert "code" not in query(authorize(elsewhere, prompt="none").headers["Location"])
    assert "code" in query(authorize(browser, prompt="none").headers["Location"])


def test_a_number_changed_at_the_counter_signs_the_user_out_everywhere(app, provider, browser, rp, user):
    # a lost phone or a SIM swap: whoever holds a session ends, in every browser, and so does the
    # portals' offline access (an app on the lost phone holds it)
    from tests.helpers import authorize, basic, exchange, query
    phone_app = app.test_client()
    offline = exchange(phone_app, login(phone_app, scope="openid offline_access")["code"]).json
    login(browser)
    account = provider.accounts.find("kwsp", "ali")
    provider.lifecycle.set_phone(provider.tenants["kwsp"], account, "counter:7", phone="013-4445555")
    assert "code" not in query(authorize(browser, prompt="none").headers["Location"])
    refreshed = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "refresh_token", "refresh_token": offline["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"
    assert provider.audit.events("kwsp", event="grant.revoked")[-1].detail["reason"] == "phone_set_at_counter"


def test_an_employer_without_a_number_is_sent_to_a_counter_before_the_password(provider, browser):
    # a first number proved only by a TAC to itself would give whoever holds the password the
    # TAC's assurance: the page says so before asking for anything
    register_client(provider, tenant="kwsp")
    make_user(provider, username="majikan2", identity_type="employer", phone=None, email="majikan2@syarikat.example")
    login(browser, username="majikan2")
    page = browser.get("/t/kwsp/account/phone_change")
    assert page.status_code == 403 and "Nombor pertama didaftarkan secara bersemuka" in page.get_data(as_text=True)
    assert "kios atau kaunter KWSP" in page.get_data(as_text=True) and 'name="password"' not in page.get_data(as_text=True)
