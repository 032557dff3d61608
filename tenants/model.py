"""The Tenant: one portal's issuer, languages, identity types and policy settings."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .defaults import (
    AccountSettings, ActivationSettings, AssuranceSettings, Branding, LockoutSettings,
    PasswordSettings, TacSettings, TokenSettings, STANDARD_SCOPES, TENANT_CLAIMS,
)


class TenantConfigError(Exception):
    """A tenant file is malformed: names the file, the field and the reason."""

    def __init__(self, file: str, field_name: str, reason: str):
        super().__init__(f"{file}: {field_name}: {reason}")
        self.file, self.field, self.reason = file, field_name, reason


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: dict[str, str]
    locales: tuple[str, ...]
    identity_types: tuple[str, ...]
    activation: dict[str, ActivationSettings]
    tokens: TokenSettings = TokenSettings()
    password: PasswordSettings = PasswordSettings()
    lockout: LockoutSettings = LockoutSettings()
    accounts: AccountSettings = AccountSettings()
    tac: TacSettings = TacSettings()
    assurance: AssuranceSettings = AssuranceSettings()
    branding: Branding = Branding()
    # RFC 9396 types a portal may send in `authorization_details` (policies.authorization_details)
    authorization_details: dict = field(default_factory=dict)
    source: str = field(default="", compare=False)

    @property
    def default_locale(self) -> str:
        return self.locales[0]

    @property
    def base_acr(self) -> str:
        return self.assurance.acr_values[0]

    def name_in(self, locale: str) -> str:
        return self.display_name.get(locale) or self.display_name[self.default_locale]

    def helpdesk_in(self, locale: str) -> str | None:
        return self.branding.helpdesk.get(locale)

    def local_time(self, moment: datetime) -> str:
        """A time as the tenant's users read it (their clock, day/month/year)."""
        return moment.astimezone(self.branding.time_zone).strftime("%H:%M %d/%m/%Y")

    def issuer(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/t/{self.id}"

    @property
    def scopes(self) -> dict[str, tuple[str, ...]]:
        return {**STANDARD_SCOPES, "membership": TENANT_CLAIMS}

    def key_retention(self) -> timedelta:
        """How long a retired signing key must stay published: until every token it signed has
        expired. (It is kept for logout hints a session's lifetime longer: keys.rotate.)"""
        t = self.tokens
        return max(t.access_token_lifetime, t.id_token_lifetime, t.authorization_code_lifetime)
