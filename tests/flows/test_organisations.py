"""Representatives and staff belong to one organisation, and their claims say so."""
import pytest

from idp.accounts import AccountError
from tests.helpers import exchange, login, make_user


def test_staff_claims_name_their_dialysis_centre(provider, browser):
    from tests.helpers import register_client
    register_client(provider, tenant="kwap", scope="openid profile membership")
    provider.organisations.create("kwap", "dialysis_centre", "PD-0042", "Pusat Dialisis Seremban")
    make_user(provider, tenant="kwap", username="staf42", identity_type="staff", organisation_id="PD-0042")
    result = login(browser, tenant="kwap", username="staf42", scope="openid membership")
    tokens = exchange(browser, result["code"], tenant="kwap").json
    info = browser.get("/t/kwap/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json
    assert info["organisation"] == {"number": "PD-0042", "name": "Pusat Dialisis Seremban", "kind": "dialysis_centre"}


def test_employer_representative_carries_the_employer_number(provider):
    provider.organisations.create("perkeso", "employer", "E1234567", "Syarikat Maju Sdn Bhd")
    account = make_user(provider, tenant="perkeso", username="wakil", identity_type="employer", organisation_id="E1234567")
    claims = provider.user_claims(provider.tenants["perkeso"], account["id"], "membership")
    assert claims["employer_number"] == "E1234567" and claims["organisation"]["kind"] == "employer"


def test_a_representative_has_the_employer_number_of_their_organisation_only(provider):
    provider.organisations.create("perkeso", "employer", "E1234567", "Syarikat Maju Sdn Bhd")
    with pytest.raises(AccountError, match="not the number of organisation 'E1234567'"):
        make_user(provider, tenant="perkeso", username="wakil", identity_type="employer",
                  organisation_id="E1234567", employer_number="E9999999")
    assert provider.accounts.find("perkeso", "wakil") is None
    account = make_user(provider, tenant="perkeso", username="wakil", identity_type="employer",
                        organisation_id="E1234567", employer_number="E1234567")  # the same: as good as none
    assert provider.accounts.get("perkeso", account["id"]).employer_number == "E1234567"


def test_unknown_organisation_is_refused(provider):
    with pytest.raises(AccountError, match="no organisation"):
        make_user(provider, tenant="kwap", username="staf43", identity_type="staff", organisation_id="PD-9999")
    assert provider.accounts.find("kwap", "staf43") is None
