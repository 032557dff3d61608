"""Loading and validating tenant files (tenants/loader.py): the seed tenants load, and a malformed
file stops start-up with a message naming the file, the field and the reason."""
from datetime import timedelta

import pytest

from tenants import TenantConfigError, default_tenants_dir, load_tenants
from tenants.loader import load_tenant

VALID = '''\
id = "demo"
identity_types = ["staff"]

[display_name]
ms = "Portal Demo"
en = "Demo Portal"
'''


def test_seed_tenants_load():
    tenants = load_tenants()
    assert set(tenants) == {"kwsp", "perkeso", "kwap"}
    kwsp, perkeso, kwap = tenants["kwsp"], tenants["perkeso"], tenants["kwap"]
    assert kwsp.identity_types == ("member", "employer", "partner")
    assert kwsp.activation["member"].channel == "sms_temporary_password"
    assert kwsp.activation["employer"].channel == "activation_code"
    assert kwsp.activation["member"].window == timedelta(days=30)
    assert kwsp.base_acr == "urn:kwsp:acr:pwd"
    assert kwsp.name_in("en") == "EPF i-Akaun" and kwsp.name_in("ms") == "i-Akaun KWSP"
    assert kwsp.accounts.user_id_recovery and not perkeso.accounts.user_id_recovery  # as their help pages
    assert not kwap.accounts.user_id_recovery
    assert perkeso.identity_types == ("employer",)
    assert perkeso.activation["employer"].channel == "email_temporary_password"
    assert kwap.accounts.dormancy_period == timedelta(days=180)
    assert kwap.accounts.recovery_by_email is True
    assert kwap.accounts.self_service_phone_change == ()
    for tenant in tenants.values():
        assert tenant.source.startswith(str(default_tenants_dir()))
        assert tenant.issuer("https://idp.example/") == f"https://idp.example/t/{tenant.id}"


def test_defaults_fill_what_a_file_leaves_out(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(VALID)
    tenant = load_tenant(path)
    assert tenant.locales == ("ms", "en")
    assert tenant.tokens.authorization_code_lifetime == timedelta(seconds=60)
    assert tenant.lockout.threshold == 10
    assert tenant.activation["staff"].channel == "email_temporary_password"


def test_short_durations_for_tests(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(VALID + '[tokens]\nauthorization_code_lifetime = "PT0.5S"\n'
                    '[accounts]\ndormancy_period = "never"\n')
    tenant = load_tenant(path)
    assert tenant.tokens.authorization_code_lifetime == timedelta(seconds=0.5)
    assert tenant.accounts.dormancy_period is None


BAD = {
    "unknown top-level key": ('colour = "red"\n' + VALID, "colour", "unknown setting"),
    "unknown key in a section": (VALID + '[tokens]\naccess_token_lifetim = "PT5M"\n',
                                 "tokens.access_token_lifetim", "unknown setting"),
    "unknown section": (VALID + '[tokenz]\na = 1\n', "tokenz", "unknown setting"),
    "bad duration": (VALID + '[tokens]\naccess_token_lifetime = "5 minutes"\n',
                     "tokens.access_token_lifetime", "not an ISO 8601 duration"),
    "month duration": (VALID + '[activation.staff]\nwindow = "P1M"\n', "activation.staff.window",
                       "not an ISO 8601 duration"),
    "zero duration": (VALID + '[tokens]\naccess_token_lifetime = "PT0S"\n', "tokens.access_token_lifetime",
                      "positive"),
    "wrong type": (VALID + '[lockout]\nthreshold = "ten"\n', "lockout.threshold", "integer"),
    "boolean for a number": (VALID + '[lockout]\nthreshold = true\n', "lockout.threshold", "integer"),
    "string for a boolean": (VALID + '[accounts]\nrecovery_by_email = "yes"\n', "accounts.recovery_by_email",
                             "true or false"),
    "section not a table": ('tokens = 5\n' + VALID, "tokens", "must be a table"),
    "id differs from file name": (VALID.replace('"demo"', '"other"'), "id", "file name"),
    "id missing": (VALID.replace('id = "demo"\n', ''), "id", "required"),
    "code lifetime over PT10M": (VALID + '[tokens]\nauthorization_code_lifetime = "PT11M"\n',
                                 "tokens.authorization_code_lifetime", "at most PT10M"),
    "lockout threshold 101": (VALID + '[lockout]\nthreshold = 101\n', "lockout.threshold", "between 1 and 100"),
    "lockout threshold 0": (VALID + '[lockout]\nthreshold = 0\n', "lockout.threshold", "between 1 and 100"),
    "TAC lifetime over PT10M": (VALID + '[tac]\nlifetime = "PT15M"\n', "tac.lifetime", "at most PT10M"),
    "password max below 64": (VALID + '[password]\nmax_length = 32\n', "password.max_length", "64"),
    "password min below 15": (VALID + '[password]\nmin_length = 12\n', "password.min_length", "at least 15"),
    "missing display name for a locale": (VALID.replace('en = "Demo Portal"\n', ''), "display_name.en", "required"),
    "display name for an unknown locale": (VALID + 'fr = "Portail"\n', "display_name.fr", "unknown locale"),
    "unknown locale": ('locales = ["ms", "fr"]\n' + VALID, "locales", "unknown value"),
    "unknown identity type": (VALID.replace('["staff"]', '["staff", "alien"]'), "identity_types", "unknown value"),
    "no identity types": (VALID.replace('["staff"]', '[]'), "identity_types", "non-empty"),
    "activation for a type the tenant lacks": (VALID + '[activation.member]\nchannel = "activation_code"\n',
                                               "activation.member", "identity_types"),
    "unknown activation channel": (VALID + '[activation.staff]\nchannel = "pigeon"\n',
                                   "activation.staff.channel", "sms_temporary_password"),
    "helpdesk as one string": (VALID + '[branding]\nhelpdesk = "Meja bantuan"\n', "branding.helpdesk",
                               "one per locale"),
    "helpdesk missing a locale": (VALID + '[branding]\nhelpdesk = { ms = "Sila hubungi kami." }\n',
                                  "branding.helpdesk.en", "required"),
    "helpdesk in an unknown locale": (VALID + '[branding]\nhelpdesk = { ms = "a", en = "b", fr = "c" }\n',
                                      "branding.helpdesk.fr", "unknown locale"),
    "invalid TOML": (VALID + '[tokens\n', "-", "not valid TOML"),
    "a key twice": (VALID + '[lockout]\nthreshold = 5\n\nthreshold = 6\n', "-", "line 10, column 14): 'threshold = 6'"),
    **{f"colour {colour}": (VALID + f'[branding]\nprimary_colour = "{colour}"\n', "branding.primary_colour", "#rrggbb")
       for colour in ("red;}body{display:none", "1d4f91", "#1d4f9", "#1d4f91 !important")},
    **{f"portal {url}": (VALID + f'[branding]\nportal_url = "{url}"\n', "branding.portal_url", "https://")
       for url in ("javascript:alert(1)", "http://www.kwsp.gov.my", "https://", "www.kwsp.gov.my")},
    "unknown time zone": (VALID + '[branding]\ntime_zone = "Asia/Kuala Lumpur"\n', "branding.time_zone",
                          "time zone name"),
    "time zone as a path": (VALID + '[branding]\ntime_zone = "../../etc/passwd"\n', "branding.time_zone",
                            "time zone name"),
    "argon2 time 0": (VALID + '[password]\nargon2_time_cost = 0\n', "password.argon2_time_cost", "at least 1"),
    "argon2 parallelism 0": (VALID + '[password]\nargon2_parallelism = 0\n', "password.argon2_parallelism",
                             "at least 1"),
    "argon2 memory 0": (VALID + '[password]\nargon2_memory_cost = 0\n', "password.argon2_memory_cost", "OWASP"),
    "argon2 under OWASP's floor": (VALID + '[password]\nargon2_memory_cost = 8192\nargon2_time_cost = 2\n',
                                   "password.argon2_memory_cost", "OWASP"),
    "phone change for a mistyped type": (VALID + '[accounts]\nself_service_phone_change = ["staf"]\n',
                                         "accounts.self_service_phone_change", "identity_types"),
    "phone change for a type the tenant lacks": (VALID + '[accounts]\nself_service_phone_change = ["employer"]\n',
                                                 "accounts.self_service_phone_change", "identity_types"),
    "required fields not names": (VALID + '[authorization_details.pay]\nlabel = { ms = "a", en = "b" }\n'
                                  'fields = { amount = "money" }\nrequired = [{ x = 1 }]\n',
                                  "authorization_details.pay.required", "declared fields"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_file_names_file_field_and_reason(tmp_path, case):
    text, field, reason = BAD[case]
    path = tmp_path / "demo.toml"
    path.write_text(text)
    with pytest.raises(TenantConfigError) as info:
        load_tenant(path)
    error = info.value
    assert (error.file, error.field) == (str(path), field)
    assert reason in error.reason
    assert str(error) == f"{path}: {field}: {error.reason}"
    assert "\n" not in str(error)


def test_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_bytes(VALID.encode("utf-16"))
    with pytest.raises(TenantConfigError, match="not valid TOML"):
        load_tenant(path)


def test_one_bad_file_stops_the_whole_directory(tmp_path):
    (tmp_path / "demo.toml").write_text(VALID)
    (tmp_path / "zeta.toml").write_text(VALID.replace('"demo"', '"zeta"') + '[lockout]\nthreshold = 101\n')
    with pytest.raises(TenantConfigError) as info:
        load_tenants(tmp_path)
    assert info.value.file == str(tmp_path / "zeta.toml")


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(TenantConfigError, match="no tenant definitions"):
        load_tenants(tmp_path)


def test_a_definition_that_cannot_be_read_is_a_config_error(tmp_path):
    (tmp_path / "demo.toml").mkdir()  # a directory named *.toml
    with pytest.raises(TenantConfigError) as info:
        load_tenants(tmp_path)
    assert info.value.field == "-" and "cannot be read" in info.value.reason


def test_owasps_other_argon2_configurations_are_accepted(tmp_path):
    path = tmp_path / "demo.toml"
    for memory, time_cost in ((47104, 1), (12288, 3), (7168, 5)):
        path.write_text(VALID + f"[password]\nargon2_memory_cost = {memory}\nargon2_time_cost = {time_cost}\n")
        assert load_tenant(path).password.argon2_memory_cost == memory
