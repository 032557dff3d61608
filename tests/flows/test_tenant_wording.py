"""Pages name the tenant's own way to get help, and no tenant's name where there is no tenant."""
import pytest

from flows.i18n import page_text, translate
from idp import create_app
from tenants import default_tenants_dir, load_tenants


def test_each_seed_tenant_names_its_own_helpdesk_in_each_language():
    for tenant in load_tenants().values():
        for locale in tenant.locales:
            for key in ("login.contact_helpdesk", "tac.daily_cap", "activation.throttled", "username.daily_cap"):
                text = page_text(tenant, locale)(key)
                assert text.endswith(tenant.helpdesk_in(locale)) and "{" not in text, (key, text)


def test_a_tenant_without_a_helpdesk_sentence_gets_the_catalogs(settings, tmp_path):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    text = (default_tenants_dir() / "kwap.toml").read_text(encoding="utf-8")
    (tenants / "kwap.toml").write_text("\n".join(line for line in text.splitlines()
                                                 if not line.startswith("helpdesk")), encoding="utf-8")
    app = create_app({**settings, "IDP_TENANTS_DIR": str(tenants)})
    kwap = app.extensions["idp"].tenants["kwap"]
    assert kwap.helpdesk_in("ms") is None
    assert page_text(kwap, "ms")("tac.no_phone").endswith("Sila hubungi meja bantuan.")
    assert page_text(kwap, "en")("tac.no_phone").endswith("Please contact the helpdesk.")


def test_a_page_text_without_its_other_values_stays_as_written(provider):
    # a page offers {helpdesk} to every text; one that wants {min} too must not fail without it
    t = page_text(provider.tenants["kwsp"], "en")
    assert t("password.too_short") == "Too short: at least {min} characters."
    assert t("password.too_short", min=12) == "Too short: at least 12 characters."


def test_a_message_missing_a_value_fails_loudly():
    # an SMS or email must never go out with "{deadline}" in it
    with pytest.raises(KeyError):
        translate("en", "message.temporary_password", portal="EPF i-Akaun")


def test_an_unknown_tenants_page_wears_no_portals_name(browser, provider):
    page = browser.get("/t/nope/authorize?ui_locales=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "Sign-in service" in html
    for tenant in provider.tenants.values():
        assert not any(name in html for name in tenant.display_name.values())
        assert tenant.branding.primary_colour not in html


def test_a_known_tenants_error_page_keeps_its_branding(browser, provider):
    page = browser.get("/t/kwap/account/nope").get_data(as_text=True)
    assert provider.tenants["kwap"].name_in("ms") in page



def test_every_catalog_text_renders_on_a_page(provider):
    # a page formats every text it shows: a stray brace in a translation would be a 500
    from flows.i18n import catalog
    for locale in ("ms", "en"):
        t = page_text(provider.tenants["kwsp"], locale)
        for key in catalog(locale):
            assert isinstance(t(key), str)
