"""The account life cycle: provisioning, the state machine's transitions (each audited), and the
helpdesk's actions (unlock, reactivate, deactivate, terminate, re-issue, sweep).

Initial credentials (ASVS 6.4.1, 6.4.6) are random, short-lived, never the permanent password,
stored hashed (argon2 for temporary passwords, a keyed HMAC for high-entropy activation codes)
and never chosen by an admin.
"""
from datetime import date, datetime, timezone

from flows.i18n import translate
from policies.account_state import AccountState, IllegalTransition, transition
from policies.activation import activation_deadline, hash_code, new_activation_code, new_temporary_password
from policies.dormancy import is_dormant
from policies.identity import normalise_msisdn, validate_mykad
from .accounts import AccountError
from .delivery import senders
from .oauth.logout import notify_backchannel
from .storage.models import Account
from .self_service import clear_activation_attempts, clear_limits
from .tac import TacService
from .text import encodes


# the organisations an account of each type may act for (partners: any); members act for themselves
ORGANISATION_KINDS = {"member": (), "employer": ("employer",), "staff": ("dialysis_centre",)}


def utcnow():
    return datetime.now(timezone.utc)


class Lifecycle:
    def __init__(self, provider):
        self.p = provider

    # --- transitions -----------------------------------------------------------------
    def transition(self, tenant, account, target: AccountState, *, actor: str, reason: str, ip=None, **values):
        new_state = _check_transition(account, target)
        # written only if the account is still in the state this was decided on: a helpdesk
        # deactivation and a failing sign-in's lock at the same moment must not end in a state
        # the machine forbids (deactivated -> locked -> active)
        seen = account.state
        updated = self.p.accounts.update(tenant.id, account.id, expect=lambda current: current.state == seen,
                                         state=new_state.value, **values)
        if updated is None:
            raise AccountError("the account changed meanwhile; nothing was done, try again")
        self.p.audit.record(tenant.id, f"account.{new_state.value}", actor=actor, subject=account.id, ip=ip,
                            reason=reason, previous=seen)
        if new_state in (AccountState.TERMINATED, AccountState.DEACTIVATED):
            self.end_grants(tenant, account.id, reason)  # a reactivation must not bring them back
            self.end_sessions(tenant, account.id)
        return updated

    def lock(self, tenant, account, locked_until, ip=None):
        self.transition(tenant, account, AccountState.LOCKED, actor="system", reason="failed_sign_ins", ip=ip,
                        locked_until=locked_until)
        self.notify(tenant, account, "message.locked", until=tenant.local_time(locked_until))

    def end_sessions(self, tenant, account_id, keep_this_browser=False):
        """End every SSO session of the account (a password set, terminate, deactivate), or every
        one but this browser's (a factor changed by its owner here). Grants without
        offline_access die with it: their refresh checks the session."""
        if keep_this_browser:
            ended = self.p.sessions.end_others(tenant, account_id)
        else:
            ended = self.p.sessions.end_all(account_id)
        self.sessions_ended(tenant, account_id, ended)

    def sessions_ended(self, tenant, account_id, ended: list[dict], **detail):
        """Audit sessions that ended, and tell their portals (Back-Channel Logout 1.0, 2)."""
        if ended:
            self.p.audit.record(tenant.id, "session.ended", subject=account_id, sids=[s["sid"] for s in ended],
                                **detail)
        for session in ended:
            notify_backchannel(self.p, tenant, session["clients"], account_id, session["sid"])

    def end_grants(self, tenant, account_id, reason):
        """Revoke every grant of the account, offline_access ones too (ASVS 7.4.3): after a
        password reset (the owner's remedy after a takeover), a deactivation or a termination."""
        ttl = tenant.tokens.refresh_token_lifetime.total_seconds()  # the marks outlive every token
        grants = self.p.store.revoke_account_grants(account_id, ttl)
        if grants:
            self.p.audit.record(tenant.id, "grant.revoked", subject=account_id, reason=reason, grants=grants)

    # --- provisioning ----------------------------------------------------------------
    def create(self, tenant, *, username, identity_type, password=None, temporary=False, actor="admin", **attributes):
        attributes = _validated({k: v for k, v in attributes.items() if v})
        self._check_organisation(tenant, identity_type, attributes)
        if password is not None:
            problems = self.p.passwords.problems(tenant, password, username=username,
                                                 national_id=attributes.get("national_id") or "")
            if problems:
                raise AccountError(f"password refused by the tenant's policy: {', '.join(problems)}")
            account = self.p.accounts.create(
                tenant, username=username, identity_type=identity_type, state="active",
                password_hash=self.p.passwords.hash(tenant.id, password), **attributes)
            self.p.audit.record(tenant.id, "account.created", actor=actor, subject=account.id, state="active")
            return _public(account)
        channel = self._channel(tenant, identity_type, attributes)
        secret, stored, deadline = self._new_credential(tenant, identity_type, channel)
        account = self.p.accounts.create(tenant, username=username, identity_type=identity_type,
                                         state="pending_activation", must_change_password=True,
                                         activation_secret=stored, activation_deadline=deadline, **attributes)
        try:
            self._deliver(tenant, account, channel, secret, deadline)
        except Exception as exc:  # noqa: BLE001 - any failure to send, not only a refusal
            # no account left behind that no one can activate (and whose user ID a retry finds taken)
            self.p.accounts.delete(tenant.id, account.id)
            self.p.audit.record(tenant.id, "account.created", outcome="failure", actor=actor, subject=account.id,
                                reason="delivery_failed", channel=channel, error=str(exc))
            raise
        self.p.audit.record(tenant.id, "account.created", actor=actor, subject=account.id,
                            state="pending_activation", channel=channel)
        return self._issued(tenant, account, channel, secret, actor)

    def _check_organisation(self, tenant, identity_type, attributes):
        number = attributes.get("organisation_id")
        if number is None:
            return
        org = self.p.organisations.find(tenant.id, number)
        if org is None:
            raise AccountError(f"no organisation {number!r} in tenant {tenant.id!r} (idp org create ...)")
        kinds = ORGANISATION_KINDS.get(identity_type)
        if kinds is not None and org.kind not in kinds:
            raise AccountError(f"a {identity_type} account cannot belong to {org.kind} {number!r}")
        if org.kind == "employer":  # a representative acts for this employer, under its number
            if attributes.get("employer_number") not in (None, org.number):
                raise AccountError(f"--employer-number {attributes['employer_number']!r} is not the number of "
                                   f"organisation {org.number!r}; leave it out, the organisation's is used")
            attributes["employer_number"] = org.number

    def reissue(self, tenant, account, actor):
        """A new credential and a new deadline (the old one dies): the helpdesk's answer to an
        expired activation window, or to a pending account whose sign-ins are refused after too
        many failures (its failures go with the old credential). Sent before it is stored, so a
        failed delivery changes nothing."""
        from .signin import clear_failures
        _check_transition(account, AccountState.PENDING_ACTIVATION)  # the state's refusal first, before anything
        channel = self._channel(tenant, account.identity_type, {"phone": account.phone, "email": account.email})
        secret, stored, deadline = self._new_credential(tenant, account.identity_type, channel)
        self._deliver(tenant, account, channel, secret, deadline)
        account = self.transition(tenant, account, AccountState.PENDING_ACTIVATION, actor=actor, reason="reissue",
                                  must_change_password=True, activation_secret=stored, activation_deadline=deadline)
        clear_failures(self.p, tenant, account.username)
        clear_activation_attempts(self.p.store, tenant, account.username)
        self.end_sessions(tenant, account.id)  # what the old credential opened goes with it
        return self._issued(tenant, account, channel, secret, actor)

    def _channel(self, tenant, identity_type, attributes):
        if identity_type not in tenant.activation:
            raise AccountError(f"tenant {tenant.id!r} has no identity type {identity_type!r}; "
                               f"allowed {list(tenant.identity_types)}")
        channel = tenant.activation[identity_type].channel
        if channel == "sms_temporary_password" and not attributes.get("phone"):
            raise AccountError(f"{tenant.id} {identity_type} accounts get a temporary password by SMS: "
                               "a phone number is required")
        if channel == "email_temporary_password" and not attributes.get("email"):
            raise AccountError(f"{tenant.id} {identity_type} accounts get a temporary password by email: "
                               "an email address is required")
        return channel

    def _new_credential(self, tenant, identity_type, channel):
        """A first credential: (what the user gets, what is stored, the activation deadline)."""
        deadline = activation_deadline(utcnow(), tenant.activation[identity_type].window)
        if channel == "activation_code":
            secret = new_activation_code()
            return secret, hash_code(self.p.master, secret), deadline
        secret = new_temporary_password()
        return secret, self.p.passwords.hash(tenant.id, secret), deadline

    def _issued(self, tenant, account, channel, secret, actor):
        self.p.audit.record(tenant.id, "account.credential_issued", actor=actor, subject=account.id,
                            channel=channel, deadline=account.activation_deadline.isoformat())
        out = _public(account)
        if channel == "activation_code":
            out["activation_code"] = secret  # handed over at the counter, shown this once
        return out

    def _deliver(self, tenant, account, channel, secret, deadline):
        """The temporary password by SMS or email (raises DeliveryError); an activation code is
        handed over at the counter instead."""
        if channel == "activation_code":
            return
        locale = account.locale or tenant.default_locale
        values = dict(portal=tenant.name_in(locale), username=account.username, secret=secret,
                      deadline=tenant.local_time(deadline))  # in their clock: UTC could read a day early
        text = translate(locale, "message.temporary_password", **values)
        outbox = senders(self.p.settings)
        if channel == "sms_temporary_password":
            outbox["sms"].send(tenant.id, account.phone, text)
        else:
            outbox["email"].send(tenant.id, account.email, text,
                                 subject=translate(locale, "message.subject", **values))

    # --- helpdesk actions ------------------------------------------------------------
    def unlock(self, tenant, account, actor):
        from .signin import clear_failures
        _check_from(account, "unlock", {AccountState.LOCKED})  # a refused unlock clears nothing either
        clear_failures(self.p, tenant, account.username)
        return self.transition(tenant, account, AccountState.ACTIVE, actor=actor, reason="helpdesk_unlock",
                               locked_until=None)

    def clear_tac(self, tenant, account, actor):
        """Lift a day's TAC cap or block (wrong codes, perhaps a stranger's), the day's count of
        reset links and a block after wrong authenticator codes, for the caller the helpdesk has
        checked."""
        TacService(self.p).clear(tenant, account)
        clear_limits(self.p.store, tenant, account)
        self.p.audit.record(tenant.id, "tac.limits_cleared", actor=actor, subject=account.id)
        return account

    def reactivate(self, tenant, account, actor):
        # a fresh start: the dormancy clock restarts now
        _check_from(account, "reactivate", {AccountState.DORMANT, AccountState.DEACTIVATED})
        return self.transition(tenant, account, AccountState.ACTIVE, actor=actor, reason="helpdesk_reactivate",
                               last_sign_in_at=utcnow())

    def deactivate(self, tenant, account, actor):
        return self.transition(tenant, account, AccountState.DEACTIVATED, actor=actor, reason="helpdesk_deactivate")

    def terminate(self, tenant, account, actor):
        # final; the row stays so the username is never reused
        return self.transition(tenant, account, AccountState.TERMINATED, actor=actor, reason="helpdesk_terminate",
                               password_hash=None, activation_secret=None, totp_secret=None)

    def change_phone(self, tenant, account, phone, actor, ip=None):
        """A new mobile number (at a counter, or proved with a TAC by the user): the old number is
        told, so a hijacked account's owner hears of it (NIST SP 800-63B rev. 4)."""
        if not phone:
            raise AccountError("a mobile number is required")
        if account.state == AccountState.TERMINATED:
            raise AccountError("a terminated account is final")
        phone = _validated({"phone": phone})["phone"]
        old = account.phone
        updated = self.p.accounts.update(tenant.id, account.id, phone=phone)
        self.p.audit.record(tenant.id, "account.phone_changed", actor=actor, subject=account.id, ip=ip,
                            old=_masked(old), new=_masked(phone))
        if old != phone:  # to the old number, or by email where there was none (a counter registered a first)
            self.notify(tenant, account, "message.phone_changed")  # `account` still has the old number
        # the number receives the TACs: the user's sessions end (ASVS 7.4.3), all of them when the
        # counter changed it, all but this browser's when the user did, here
        self.end_sessions(tenant, account.id, keep_this_browser=True)
        return updated

    def set_phone(self, tenant, account, actor, phone=None):
        """At a counter, often for a lost phone or a SIM swap: the portals' offline access ends
        too (an app on the lost phone holds it), as every session does."""
        updated = self.change_phone(tenant, account, phone, actor)
        self.end_grants(tenant, account.id, reason="phone_set_at_counter")
        return updated

    def sweep(self, tenant, now=None) -> dict:
        """The periodic job: dormant accounts, expired locks."""
        now = now or utcnow()
        counts = {"dormant": 0, "unlocked": 0}
        for account in self.p.accounts.in_state(tenant.id, AccountState.ACTIVE.value):
            ref = account.activated_at or account.created_at
            if is_dormant(account.last_sign_in_at, ref, now, tenant.accounts.dormancy_period):
                counts["dormant"] += self._swept(tenant, account, AccountState.DORMANT, reason="no_sign_in")
        for account in self.p.accounts.in_state(tenant.id, AccountState.LOCKED.value):
            if account.locked_until and account.locked_until <= now:
                counts["unlocked"] += self._swept(tenant, account, AccountState.ACTIVE, reason="lock_expired",
                                                  locked_until=None)
        return counts

    def _swept(self, tenant, account, target, **values) -> int:
        try:
            self.transition(tenant, account, target, actor="sweep", **values)
            return 1
        except AccountError:  # changed since the list was read (a sign-in, the helpdesk): left to that
            return 0

    # --- notices to the user through their own channel ----------------------------------
    def notify(self, tenant, account, key, **values):
        locale = account.locale or tenant.default_locale
        values = {"portal": tenant.name_in(locale), **values}
        text = translate(locale, key, **values)
        # in the background: a notice never holds up (nor undoes) the action it reports, and a
        # lock notice must not make the locking attempt slower than any other; failures are audited
        if account.phone:
            self.p.outgoing.send_later(tenant.id, "sms", account.phone, text, account_id=account.id)
        elif account.email:
            self.p.outgoing.send_later(tenant.id, "email", account.email, text, account_id=account.id,
                                       title=translate(locale, "message.subject", **values))


def _check_from(account, action: str, states: set[AccountState]) -> None:
    """A helpdesk action is for accounts in these states only: the machine's legal move to
    active is also the one a pending account makes with its own first password, which no
    unlock or reactivation may stand in for (ASVS 6.4.1: past its window it is re-issued)."""
    if AccountState(account.state) not in states:
        raise AccountError(f"{action} is for an account that is {' or '.join(sorted(s.value for s in states))}; "
                           f"this one is {account.state}")


def _check_transition(account, target: AccountState) -> AccountState:
    try:
        return transition(AccountState(account.state), target)
    except IllegalTransition as exc:
        raise AccountError(str(exc)) from None


ATTRIBUTES = {"phone", "email", "name", "national_id", "member_number", "employer_number", "organisation_id", "locale"}


def _validated(attributes: dict) -> dict:
    unknown = attributes.keys() - ATTRIBUTES
    if unknown:
        raise AccountError(f"unknown account attribute(s) {sorted(unknown)}")
    out = dict(attributes)
    for name, value in out.items():
        limit = getattr(Account.__table__.c[name].type, "length", None)
        if isinstance(value, str) and (limit and len(value) > limit or not encodes(value)):
            raise AccountError(f"{name} must be UTF-8 text of at most {limit} characters")
    try:
        if out.get("phone"):
            out["phone"] = normalise_msisdn(out["phone"])
        if out.get("national_id"):
            out["national_id"] = validate_mykad(out["national_id"], date.today())
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if out.get("email") and not _is_email(out["email"]):
        raise AccountError(f"not an email address: {out['email']!r}")
    if out.get("locale") and out["locale"] not in ("ms", "en"):
        raise AccountError("locale must be ms or en")
    return out




def _is_email(value: str) -> bool:
    """Minimal: one @ with text on both sides (the mail relay judges the rest)."""
    local, _, domain = value.partition("@")
    return bool(local and domain) and "@" not in domain and len(value) <= 254


def _masked(phone):
    return phone and phone[:4] + "*" * (len(phone) - 7) + phone[-3:]


def _public(account) -> dict:
    return {
        "id": account.id, "tenant": account.tenant_id, "username": account.username,
        "type": account.identity_type, "state": account.state,
        "must_change_password": account.must_change_password,
        "activation_deadline": account.activation_deadline.isoformat() if account.activation_deadline else None,
        "name": account.name, "email": account.email, "phone": account.phone,
        "national_id": account.national_id, "organisation": account.organisation_id,
    }


def create_account(provider, tenant, **kwargs) -> dict:
    """Kept for the CLI and tests: `Lifecycle.create`."""
    return provider.lifecycle.create(tenant, **kwargs)
