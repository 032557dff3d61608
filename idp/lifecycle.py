"""Account provisioning: active accounts (tests, demos) and pending ones whose first credential
goes out through the tenant's activation channel (ASVS 6.4.1: random, short-lived, never the
permanent password, stored hashed; 6.4.6: an admin never chooses it)."""
from datetime import date, datetime, timezone

from flows.i18n import translate
from policies.activation import activation_deadline, hash_code, new_activation_code, new_temporary_password
from policies.identity import normalise_msisdn, validate_mykad
from .accounts import AccountError
from .delivery import senders


def _validated(attributes: dict) -> dict:
    out = dict(attributes)
    try:
        if out.get("phone"):
            out["phone"] = normalise_msisdn(out["phone"])
        if out.get("national_id"):
            out["national_id"] = validate_mykad(out["national_id"], date.today())
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if out.get("email") and ("@" not in out["email"] or len(out["email"]) > 254):
        raise AccountError(f"not an email address: {out['email']!r}")
    return out


def create_account(provider, tenant, *, username, identity_type, password=None, temporary=False,
                   actor="admin", **attributes) -> dict:
    attributes = _validated({k: v for k, v in attributes.items() if v})
    if password is not None:
        account = provider.accounts.create(
            tenant, username=username, identity_type=identity_type, state="active",
            password_hash=provider.passwords.hash(tenant.id, password), **attributes)
        provider.audit.record(tenant.id, "account.created", actor=actor, subject=account.id, state="active")
        return _public(account)
    channel = tenant.activation[identity_type].channel if identity_type in tenant.activation else None
    if channel == "sms_temporary_password" and not attributes.get("phone"):
        raise AccountError(f"{tenant.id} {identity_type} accounts get their temporary password by SMS: --phone is required")
    if channel == "email_temporary_password" and not attributes.get("email"):
        raise AccountError(f"{tenant.id} {identity_type} accounts get their temporary password by email: --email is required")
    now = datetime.now(timezone.utc)
    deadline = activation_deadline(now, tenant.activation[identity_type].window) if channel else None
    if channel == "activation_code":
        secret = new_activation_code()
        stored = hash_code(provider.master, secret)
    else:
        secret = new_temporary_password()
        stored = provider.passwords.hash(tenant.id, secret)
    account = provider.accounts.create(
        tenant, username=username, identity_type=identity_type, state="pending_activation",
        must_change_password=True, activation_deadline=deadline, activation_secret=stored, **attributes)
    deliver_activation(provider, tenant, account, channel, secret)
    provider.audit.record(tenant.id, "account.created", actor=actor, subject=account.id,
                          state="pending_activation", channel=channel, deadline=deadline.isoformat())
    out = _public(account)
    if channel == "activation_code":
        out["activation_code"] = secret  # handed over at the counter, shown this once
    return out


def deliver_activation(provider, tenant, account, channel, secret):
    if channel == "activation_code":
        return
    locale = account.locale or tenant.default_locale
    values = dict(portal=tenant.name_in(locale), username=account.username, secret=secret,
                  deadline=account.activation_deadline.strftime("%d/%m/%Y"))
    text = translate(locale, "message.temporary_password", **values)
    outbox = senders(provider.settings)
    if channel == "sms_temporary_password":
        outbox["sms"].send(tenant.id, account.phone, text)
    else:
        outbox["email"].send(tenant.id, account.email, text,
                             subject=translate(locale, "message.temporary_password.subject", **values))


def _public(account) -> dict:
    return {
        "id": account.id, "tenant": account.tenant_id, "username": account.username,
        "type": account.identity_type, "state": account.state,
        "must_change_password": account.must_change_password,
        "activation_deadline": account.activation_deadline.isoformat() if account.activation_deadline else None,
        "name": account.name, "email": account.email, "phone": account.phone,
        "national_id": account.national_id, "organisation": account.organisation_id,
    }
