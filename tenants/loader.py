"""Load and validate `definitions/*.toml` (or `$IDP_TENANTS_DIR`) once, at start-up.

A malformed file stops start-up with `TenantConfigError(file, field, reason)`.
"""
import re
import tomllib
import types
import typing
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .defaults import ACTIVATION_CHANNELS, IDENTITY_TYPES, SECTIONS, ActivationSettings
from policies.authorization_details import FIELD_KINDS, DetailType
from .durations import parse_duration
from .model import Tenant, TenantConfigError

_TENANT_ID = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_COLOUR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")
_TOP_LEVEL = {"id", "display_name", "locales", "identity_types", "activation", "authorization_details", *SECTIONS}
_LOCALES = {"ms", "en"}


def default_tenants_dir() -> Path:
    return Path(__file__).parent / "definitions"


def load_tenants(directory: str | Path | None = None) -> dict[str, Tenant]:
    directory = Path(directory or default_tenants_dir())
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise TenantConfigError(str(directory), "-", "no tenant definitions (*.toml) found")
    tenants = {}
    for path in files:
        tenant = load_tenant(path)
        if tenant.id in tenants:
            raise TenantConfigError(str(path), "id", f"duplicate tenant id {tenant.id!r}")
        tenants[tenant.id] = tenant
    return tenants


def _quoted_line(text: str, message: str) -> str:
    """The line tomllib points at ("... (at line 12, column 1)"), which names the key of, say, a
    duplicate, as the message alone does not."""
    at = re.search(r"\(at line (\d+), column \d+\)$", message)
    lines = text.splitlines()
    if not at or not 0 < int(at[1]) <= len(lines):
        return ""
    return f": {lines[int(at[1]) - 1].strip()[:80]!r}"


def load_tenant(path: Path) -> Tenant:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TenantConfigError(file, "-", f"not valid TOML: {exc}{_quoted_line(text, str(exc))}") from None
    except UnicodeDecodeError as exc:
        raise TenantConfigError(file, "-", f"not valid TOML: {exc}") from None
    except OSError as exc:  # a directory named *.toml, a dangling link, no permission
        raise TenantConfigError(file, "-", f"cannot be read: {exc.strerror or exc}") from None
    for key in data.keys() - _TOP_LEVEL:
        raise TenantConfigError(file, key, "unknown setting")
    tenant_id = data.get("id")
    if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
        raise TenantConfigError(file, "id", "required; lowercase letters, digits and '-'")
    if path.stem != tenant_id:
        raise TenantConfigError(file, "id", f"must match the file name ({path.stem!r})")
    locales = _string_list(file, "locales", data.get("locales", ["ms", "en"]), _LOCALES)
    names = _localised(file, "display_name", data.get("display_name"), locales, "the portal's name")
    types_ = _string_list(file, "identity_types", data.get("identity_types"), set(IDENTITY_TYPES))
    sections = {
        name: _section(file, name, cls, data.get(name, {})) for name, cls in SECTIONS.items()
    }
    _check_policy_limits(file, sections)
    # a typo ("employeer") would quietly leave everyone at the counter
    stray = set(sections["accounts"].self_service_phone_change) - set(types_)
    if stray and "self_service_phone_change" in data.get("accounts", {}):
        raise TenantConfigError(file, "accounts.self_service_phone_change",
                                f"{sorted(stray)} not among this tenant's identity_types {types_}")
    if not _COLOUR.fullmatch(sections["branding"].primary_colour):  # it goes into the pages' CSS as written
        raise TenantConfigError(file, "branding.primary_colour", "a colour as #rgb or #rrggbb, e.g. \"#1d4f91\"")
    portal = sections["branding"].portal_url  # linked from pages: not a javascript: or http: address
    if portal and not (portal.startswith("https://") and urlsplit(portal).hostname):
        raise TenantConfigError(file, "branding.portal_url", "an https:// address, e.g. \"https://www.kwsp.gov.my\"")
    if sections["branding"].helpdesk:
        _localised(file, "branding.helpdesk", sections["branding"].helpdesk, locales, "where to get help")
    return Tenant(
        id=tenant_id,
        display_name=names,
        locales=tuple(locales),
        identity_types=tuple(types_),
        activation=_activation(file, types_, data.get("activation", {})),
        authorization_details=_detail_types(file, locales, data.get("authorization_details", {})),
        source=file,
        **sections,
    )


def _localised(file, name, table, locales, what) -> dict[str, str]:
    """A table with a text for each of the tenant's locales, e.g. `{ ms = "...", en = "..." }`."""
    if not isinstance(table, dict):
        raise TenantConfigError(file, name, f"must be a table with {what} for each locale {locales}")
    for key in table.keys() - _LOCALES:
        raise TenantConfigError(file, f"{name}.{key}", f"unknown locale; allowed {sorted(_LOCALES)}")
    for locale in locales:
        if not isinstance(table.get(locale), str) or not table[locale].strip():
            raise TenantConfigError(file, f"{name}.{locale}", f"required: {what} in this language")
    return dict(table)


def _string_list(file, name, value, allowed) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise TenantConfigError(file, name, "must be a non-empty list of strings")
    unknown = set(value) - allowed
    if unknown:
        raise TenantConfigError(file, name, f"unknown value(s) {sorted(unknown)}; allowed {sorted(allowed)}")
    return value


def _activation(file, identity_types, table) -> dict[str, ActivationSettings]:
    if not isinstance(table, dict):
        raise TenantConfigError(file, "activation", "must be a table per identity type")
    for key in table.keys() - set(identity_types):
        raise TenantConfigError(file, f"activation.{key}", "not one of this tenant's identity_types")
    out = {}
    for identity_type in identity_types:
        settings = _section(file, f"activation.{identity_type}", ActivationSettings, table.get(identity_type, {}))
        if settings.channel not in ACTIVATION_CHANNELS:
            raise TenantConfigError(file, f"activation.{identity_type}.channel", f"one of {ACTIVATION_CHANNELS}")
        out[identity_type] = settings
    return out


def _detail_types(file, locales, table) -> dict[str, DetailType]:
    """[authorization_details.<type>]: labels per locale, fields with their kinds, required fields."""
    if not isinstance(table, dict):
        raise TenantConfigError(file, "authorization_details", "must be a table of types")
    out = {}
    for name, spec in table.items():
        where = f"authorization_details.{name}"
        if not isinstance(spec, dict) or spec.keys() - {"label", "fields", "required"}:
            raise TenantConfigError(file, where, "allowed keys: label, fields, required")
        labels, fields_, required = spec.get("label", {}), spec.get("fields", {}), spec.get("required", [])
        if not isinstance(labels, dict) or not all(isinstance(labels.get(loc), str) for loc in locales):
            raise TenantConfigError(file, f"{where}.label", f"needs a label for each locale {locales}")
        if not isinstance(fields_, dict) or not fields_ or any(k not in FIELD_KINDS for k in fields_.values()):
            raise TenantConfigError(file, f"{where}.fields", f"a table of field = kind, kinds {FIELD_KINDS}")
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required) \
                or set(required) - fields_.keys():
            raise TenantConfigError(file, f"{where}.required", "must list declared fields")
        out[name] = DetailType(name, dict(labels), dict(fields_), tuple(required))
    return out


def _section(file, name, cls, table):
    """Build a settings dataclass from a TOML table, converting by the field's type."""
    if not isinstance(table, dict):
        raise TenantConfigError(file, name, "must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in table.keys() - known.keys():
        raise TenantConfigError(file, f"{name}.{key}", "unknown setting")
    values = {}
    for key, value in table.items():
        try:
            values[key] = _convert(known[key].type, value)
        except (TypeError, ValueError) as exc:
            raise TenantConfigError(file, f"{name}.{key}", str(exc)) from None
    return cls(**values)


def _convert(kind, value):
    optional = isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)
    if optional:
        if value in ("", "never"):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is timedelta:
        duration = parse_duration(value)
        if duration <= timedelta(0):
            raise ValueError("must be a positive duration")
        return duration
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError("must be a non-negative integer")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        return value
    if kind is ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError("must be a time zone name, such as Asia/Kuala_Lumpur") from None
    if typing.get_origin(kind) is dict:  # per locale; its keys are checked against the tenant's
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise TypeError("must be a table of strings, one per locale")
        return dict(value)
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError("must be a list of strings")
        return tuple(value)
    raise TypeError(f"unsupported setting type {kind}")


# OWASP's argon2id configurations (m=47104 t=1 ... m=7168 t=5) all spend at least this much
OWASP_ARGON2_FLOOR = 7168 * 5


def _check_policy_limits(file, s):
    """Limits the standards set, whatever a tenant asks for."""
    rules = [
        ("tokens.authorization_code_lifetime", s["tokens"].authorization_code_lifetime <= timedelta(minutes=10),
         "at most PT10M (ASVS 10.4.3)"),
        # a password signs in alone here (the TAC is a step-up): 15 at least, not the 8 of MFA
        ("password.min_length", 15 <= s["password"].min_length <= s["password"].max_length,
         "at least 15 (NIST SP 800-63B rev. 4 3.1.1.2, a password used alone) and not above max_length"),
        ("password.max_length", s["password"].max_length >= 64, "must allow at least 64 characters"),
        ("lockout.threshold", 1 <= s["lockout"].threshold <= 100, "between 1 and 100 (NIST SP 800-63B)"),
        ("tac.lifetime", s["tac"].lifetime <= timedelta(minutes=10), "at most PT10M (NIST SP 800-63B)"),
        ("tac.max_attempts", 1 <= s["tac"].max_attempts <= 3, "between 1 and 3"),
        ("assurance.acr_values", len(s["assurance"].acr_values) >= 1, "needs at least the password level"),
        # checked here, not first by argon2 when the first worker starts (after migrating)
        ("password.argon2_time_cost", s["password"].argon2_time_cost >= 1, "at least 1"),
        ("password.argon2_parallelism", s["password"].argon2_parallelism >= 1, "at least 1"),
        ("password.argon2_memory_cost",
         s["password"].argon2_memory_cost * s["password"].argon2_time_cost >= OWASP_ARGON2_FLOOR,
         f"with argon2_time_cost, at least OWASP's floor (memory x time >= {OWASP_ARGON2_FLOOR} KiB, "
         "e.g. 19456 KiB x 2)"),
    ]
    for name, ok, reason in rules:
        if not ok:
            raise TenantConfigError(file, name, reason)
