"""Every tenant setting, its meaning and its default (node-oidc-provider's `defaults.js` idea).

A tenant file (`definitions/<id>.toml`) overrides any of these under the table of the same
name (`[tokens]`, `[password]`, ...). Durations are ISO 8601 (`P30D`, `PT5M`) so tests can use
short ones. Unknown keys are errors: a typo must not silently fall back to a default.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

IDENTITY_TYPES = ("member", "employer", "partner", "staff")
ACTIVATION_CHANNELS = ("sms_temporary_password", "email_temporary_password", "activation_code")


@dataclass(frozen=True)
class TokenSettings:
    # OIDC Core 3.1.2.1 / RFC 9700 4.2: codes are short-lived and single use (ASVS 10.4.3: <= 10 min).
    authorization_code_lifetime: timedelta = timedelta(seconds=60)
    # RFC 9068 JWT access tokens; short because resource servers validate them offline.
    access_token_lifetime: timedelta = timedelta(minutes=5)
    id_token_lifetime: timedelta = timedelta(hours=1)
    # Absolute lifetime of a refresh-token family (ASVS 10.4.8); rotation does not extend it.
    refresh_token_lifetime: timedelta = timedelta(days=30)
    # SSO session: how long a browser stays signed in to the tenant...
    session_lifetime: timedelta = timedelta(hours=8)
    # ...unless it goes unused this long (ASVS 7.3.1 inactivity timeout).
    session_idle_timeout: timedelta = timedelta(minutes=30)
    # Whether a portal refreshing a grant bound to the session (no offline_access) uses it, as in
    # Keycloak: a user busy in a portal stays signed in; false: only coming back here does.
    refresh_is_session_use: bool = True
    # How long a started sign-in (interaction) may take.
    interaction_lifetime: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class PasswordSettings:
    # NIST SP 800-63B rev. 4 / ASVS 6.2: length only, no composition rules; 15 for a password
    # that is the only factor of a sign-in (rev. 4 3.1.1.2; ASVS 6.2.1 strongly recommends it).
    min_length: int = 15
    max_length: int = 128
    # Previous passwords a user may not reuse.
    history: int = 5
    # argon2id cost (OWASP: m=19 MiB, t=2, p=1 is the floor); changing these rehashes at next sign-in.
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456
    argon2_parallelism: int = 1


@dataclass(frozen=True)
class ActivationSettings:
    # How a new account of this identity type receives its first credential.
    channel: str = "email_temporary_password"
    # The credential dies after this window (KWSP: 30 days).
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class LockoutSettings:
    # NIST: never more than 100 consecutive failures; ASVS 6.3.1.
    threshold: int = 10
    lock_duration: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class AccountSettings:
    # No sign-in for this long makes an account dormant; None = never.
    dormancy_period: timedelta | None = None
    # Recovery by an emailed reset link instead of an SMS TAC.
    recovery_by_email: bool = False
    # "Lupa ID Pengguna": the user ID sent by SMS to the registered number, found by national ID
    # and that number; off where accounts are not registered with both (the helpdesk tells).
    user_id_recovery: bool = True
    # Whether the user may change their own mobile number (KWSP members: counter only).
    self_service_phone_change: tuple[str, ...] = ("employer",)


@dataclass(frozen=True)
class TacSettings:
    # NIST SP 800-63B rev. 4 out-of-band codes: at most 10 minutes, single use.
    lifetime: timedelta = timedelta(minutes=5)
    max_attempts: int = 3
    resend_cooldown: timedelta = timedelta(seconds=60)
    daily_cap: int = 10
    # Whether a TOTP app satisfies a TAC step-up (SMS is a restricted authenticator).
    totp_satisfies: bool = True


@dataclass(frozen=True)
class AssuranceSettings:
    # acr values from weakest to strongest; the first is what a password sign-in reaches.
    acr_values: tuple[str, ...] = ("urn:idp:acr:pwd", "urn:idp:acr:tac")
    # An elevated level is granted for this long, then steps down.
    step_up_lifetime: timedelta = timedelta(minutes=5)
    # A step-up on a session older than this asks for the password again first.
    reauthenticate_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class Branding:
    primary_colour: str = "#1d4f91"
    portal_url: str = ""
    # per locale, one sentence telling a user where to get help (an inactive account, an expired
    # activation, a number only a counter may change); pages fall back to "contact the helpdesk"
    helpdesk: dict[str, str] = field(default_factory=dict)
    # times told to users (the end of a lock) are in their clock, not UTC
    time_zone: ZoneInfo = ZoneInfo("Asia/Kuala_Lumpur")


SECTIONS = {
    "tokens": TokenSettings,
    "password": PasswordSettings,
    "lockout": LockoutSettings,
    "accounts": AccountSettings,
    "tac": TacSettings,
    "assurance": AssuranceSettings,
    "branding": Branding,
}

# Claims a tenant may release under the `membership` scope.
TENANT_CLAIMS = ("member_number", "employer_number", "organisation")

STANDARD_SCOPES = {
    "openid": (),
    "profile": ("name", "preferred_username", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "offline_access": (),
}


def default_activation() -> dict[str, ActivationSettings]:
    return {t: ActivationSettings() for t in IDENTITY_TYPES}


