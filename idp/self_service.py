"""The account operations the flows ask for (`flows.ports.Accounts`): passwords, activation
codes, recovery, TAC and authenticator codes."""
import hashlib
import hmac
import secrets
from datetime import date, datetime, timezone

import pyotp
import segno

from flows.i18n import translate
from keys.sealing import seal, unseal
from policies.account_state import AccountState
from policies.activation import code_matches
from policies.identity import normalise_msisdn, validate_mykad
from .accounts import AccountError, username_key
from .audit import typed_name
from .ephemeral import account_grants
from .oauth.subject import digest
from .signin import (
    SignInOutcome, activation_lapsed, awaited_credential, clear_failures, holds_awaited_credential, sign_in,
)
from .tac import TacService

ACTIVATION_ATTEMPTS = 5       # wrong activation codes per user ID per hour
RESET_LINK_SECONDS = 3600     # an emailed reset link lives 1 hour (the issue allows up to 24)
RECOVERY_CODES = 10           # one-time codes for a lost authenticator
TOTP_TRIES, TOTP_WINDOW = 10, 900  # authenticator or recovery codes per account per 15 minutes
TOTP_FAILURE_CEILING = 100    # wrong ones in a row (NIST SP 800-63B rev. 4 allows no more than 100)
TOTP_CEILING_KEPT = 30 * 86400  # how long a run of failures is remembered
RECOVERABLE = (AccountState.ACTIVE, AccountState.LOCKED)  # the states a password reset may start in


class SelfService:
    def __init__(self, provider):
        self.p = provider
        self.tac = TacService(provider)

    def sign_in(self, tenant, username, password, ip):
        return sign_in(self.p, tenant, username, password, ip)

    def verify_password(self, tenant, account_id, password, ip):
        """Re-authentication of a signed-in user: the same rules (and lockout) as sign-in."""
        account = self.p.accounts.get(tenant.id, account_id) if account_id else None
        if not account:
            return "wrong"
        outcome = sign_in(self.p, tenant, account.username, password, ip)
        if outcome.account_id == account.id:
            return "ok"
        # the user is signed in as this account: telling them of its lock tells no one else
        return {"locked": "locked", "throttled": "throttled", "ip_blocked": "throttled"}.get(outcome.reason, "wrong")

    # --- passwords -----------------------------------------------------------------
    def password_problems(self, tenant, account_id, password):
        account = self.p.accounts.get(tenant.id, account_id)
        if activation_lapsed(account):
            return ["activation_expired"]  # no first password: a counter or the helpdesk re-issues
        history = account.password_history[:tenant.password.history]
        earlier = [account.password_hash, account.activation_secret, *history]
        reused = any(h and h.startswith("$argon2") and self.p.passwords.verify(tenant.id, h, password) for h in earlier)
        return self.p.passwords.problems(tenant, password, username=account.username,
                                         national_id=account.national_id or "", reused=reused)

    def set_password(self, tenant, account_id, password, ip, reason, credential=None):
        account = self.p.accounts.get(tenant.id, account_id)
        history = ([account.password_hash] if account.password_hash else []) + list(account.password_history)
        # what the old password opened ends before the new one is stored, as well as after: a
        # store failing in between must not leave a taker's sessions and grants behind a reset.
        # (Not for a page that may no longer set one: a late second tab ends nothing.)
        if _may_set_password(account, reason, credential):
            self._end_access(tenant, account_id, reason)
        account = self.p.accounts.update(
            tenant.id, account_id, password_hash=self.p.passwords.hash(tenant.id, password),
            password_history=history[:tenant.password.history], must_change_password=False, activation_secret=None,
            expect=lambda current: _may_set_password(current, reason, credential))
        if account is None:
            return False
        if account.state == AccountState.PENDING_ACTIVATION:
            try:
                self.p.lifecycle.transition(tenant, account, AccountState.ACTIVE, actor=account.id, reason=reason,
                                            ip=ip, activated_at=datetime.now(timezone.utc), activation_deadline=None)
            except AccountError:  # deactivated or terminated by the helpdesk at this moment: that stands
                pass
        self.p.audit.record(tenant.id, "password.changed", subject=account_id, actor=account_id, ip=ip, reason=reason)
        self._end_access(tenant, account_id, reason)  # and any begun meanwhile
        if reason == "recovery":
            clear_failures(self.p, tenant, account.username)  # the reset proved the owner
            if account.state == AccountState.LOCKED:
                try:
                    self.p.lifecycle.transition(tenant, account, AccountState.ACTIVE, actor=account.id,
                                                reason=reason, ip=ip, locked_until=None)
                except AccountError:  # a helpdesk action on it at this moment: that stands
                    pass
        self.p.lifecycle.notify(tenant, account, "message.password_changed")
        return True

    def _end_access(self, tenant, account_id, reason):
        if reason == "recovery":
            # the owner's remedy after a takeover: the taker's offline grants end too. A change
            # by the signed-in user keeps them (docs/PORTAL_DEVELOPERS.md)
            self.p.lifecycle.end_grants(tenant, account_id, reason)
        # every session the old password opened ends, in every browser (ASVS 7.4.3); a flow
        # that goes on in this browser gets a fresh one when it finishes (ASVS 7.2.4). A
        # signed-in user's own change keeps this browser's, as a change of factor does
        self.p.lifecycle.end_sessions(tenant, account_id, keep_this_browser=reason == "change")

    # --- activation code (KWSP employer representatives) -------------------------------
    def check_activation_code(self, tenant, username, code, ip):
        throttle = _activation_key(tenant, username)
        if self.p.store.incr(throttle, ttl=3600) > ACTIVATION_ATTEMPTS:
            self.p.audit.record(tenant.id, "activation.code", outcome="failure",
                                actor=typed_name(self.p.master, username), ip=ip, reason="throttled")
            # said as it is: counted for the typed ID, account or not, so it tells nothing, and
            # the right code must not read as wrong while a stranger's guesses hold the ID
            return SignInOutcome(None, "throttled", "activation.throttled")
        account = self.p.accounts.find(tenant.id, username)
        valid = (account is not None and account.state == AccountState.PENDING_ACTIVATION
                 and tenant.activation[account.identity_type].channel == "activation_code"
                 and account.activation_secret and code_matches(self.p.master, code, account.activation_secret))
        if not valid:
            self.p.audit.record(tenant.id, "activation.code", outcome="failure", subject=account and account.id,
                                actor=None if account else typed_name(self.p.master, username), ip=ip,
                                reason="bad_code")
            return SignInOutcome(None, "bad_code", "activation.failed")
        if activation_lapsed(account):
            self.p.audit.record(tenant.id, "activation.code", outcome="failure", subject=account.id, ip=ip,
                                reason="activation_expired")
            return SignInOutcome(None, "activation_expired", "login.activation_expired")
        self.p.store.delete("counter", throttle)
        self.p.audit.record(tenant.id, "activation.code", subject=account.id, ip=ip)
        return SignInOutcome(account.id, "ok", "", awaited_credential(account))

    # --- recovery ------------------------------------------------------------------
    def find_for_recovery(self, tenant, *, username="", national_id="", phone=""):
        if username:
            account = self.p.accounts.find(tenant.id, username)
        else:
            identity = _identity(national_id, phone)
            if identity is None:
                return None
            account = self.p.accounts.find_by_identity(tenant.id, *identity)
        # a locked account may reset its password: proving the phone (and any authenticator) is
        # the owner's way out of a lock that a guesser ran up (NIST SP 800-63B rev. 4 3.2.2)
        return account.id if account and account.state in RECOVERABLE else None

    def _account(self, tenant, account_id, recovery: bool):
        # looked up for no account too ("" matches none): a recovery's time must not tell
        account = self.p.accounts.get(tenant.id, account_id or "")
        if recovery and account and account.state not in RECOVERABLE:
            return None  # deactivated since the user was identified: reads like no account
        return account

    def send_tac(self, tenant, account_id, purpose, binding, locale, details="", to=None, claimed=None):
        account = self._account(tenant, account_id, recovery=bool(claimed))
        return self.tac.send(tenant, account, purpose, binding, locale, details, to=to,
                             claimed=_claim_key(claimed) if claimed else None)

    def verify_tac(self, tenant, binding, code):
        return self.tac.verify(tenant, binding, code)

    def send_username(self, tenant, account_id, locale, phone):
        # one number however it is typed (012-..., +6012..., 6012...), as the look-up reads it
        cooldown = f"{tenant.id}:{self.normalise_phone(phone) or ''.join(c for c in phone if c.isdigit())}"
        if self.p.store.get("username_sms", cooldown) is not None:
            return "cooldown"
        if self.p.outgoing.failing("sms"):
            return "delivery_failed"  # for any details typed alike (idp/outgoing.py)
        self.p.store.put("username_sms", cooldown, {}, tenant.tac.resend_cooldown.total_seconds())
        if self.p.store.incr(_username_day_key(cooldown), ttl=86400) > tenant.tac.daily_cap:
            return "daily_cap"
        account = self.p.accounts.get(tenant.id, account_id or "")  # read alike for details that matched no one
        if account and account.phone:
            text = translate(locale, "message.username", portal=tenant.name_in(locale), username=account.username)
            self.p.outgoing.send_later(tenant.id, "sms", account.phone, text, account_id=account.id)
        return "sent"

    def send_reset_link(self, tenant, account_id, locale, claimed=None):
        """`claimed`: who the user said they are. A claim that matched no account (or one with no
        email) goes through the same limits and store writes as a real one, keyed by the claim,
        so that neither the page nor its timing tells them apart (ASVS 6.3.8)."""
        if self.p.outgoing.failing("email"):
            return "delivery_failed"  # for any details typed alike (idp/outgoing.py)
        if not tenant.accounts.recovery_by_email:
            return "sent"
        account = self._account(tenant, account_id, recovery=True)
        to = account.email if account else None
        limited = account.id if to else _claim_key(claimed or {})
        if not self._may_email_link(tenant, limited, to and account.id):
            return "sent"  # the page reads alike: the limit must not tell that the account exists
        token = secrets.token_urlsafe(32)
        # for no account the entry names none: the link was never sent, and would redeem nothing
        self.p.store.put("reset_link", digest(token), {"tenant": tenant.id, "account_id": to and account.id,
                                                       "password": to and _fingerprint(account)}, RESET_LINK_SECONDS)
        if to:
            # its pages in the mail's language
            link = f"{self.p.issuer(tenant)}/account/reset/{token}?ui_locales={locale}"
            text = translate(locale, "message.reset_link", portal=tenant.name_in(locale), link=link)
            self.p.outgoing.send_later(tenant.id, "email", to, text, account_id=account.id,
                                       title=translate(locale, "message.subject", portal=tenant.name_in(locale)),
                                       expires_in=RESET_LINK_SECONDS)
        self.p.audit.record(tenant.id, "recovery.link_sent", subject=to and account.id, delivered=bool(to))
        return "sent"

    def _may_email_link(self, tenant, limited: str, account_id: str | None) -> bool:
        """The TAC's limits, per account (or claim, see send_reset_link): one link a cooldown, the
        daily cap a day. Anyone who knows a user ID starts a recovery, so without them its
        mailbox could be flooded."""
        key, store = _link_cooldown_key(tenant, limited), self.p.store
        if store.get("reset_link_sent", key) is not None:
            reason = "cooldown"
        elif store.incr(_link_day_key(tenant, limited), ttl=86400) > tenant.tac.daily_cap:
            reason = "daily_cap"
        else:
            if tenant.tac.resend_cooldown:
                store.put("reset_link_sent", key, {}, tenant.tac.resend_cooldown.total_seconds())
            return True
        self.p.audit.record(tenant.id, "recovery.link_refused", outcome="failure", subject=account_id, reason=reason)
        return False

    def reset_link_live(self, tenant, token):
        entry = self.p.store.get("reset_link", digest(token)) if len(token) < 128 else None
        return self._link_account(tenant, entry) is not None

    def redeem_reset_link(self, tenant, token, ip=None):
        entry = self.p.store.consume("reset_link", digest(token)) if len(token) < 128 else None
        account_id = self._link_account(tenant, entry)
        self.p.audit.record(tenant.id, "recovery.link_used", outcome="success" if account_id else "failure",
                            subject=account_id or (entry or {}).get("account_id"), ip=ip,
                            reason=None if account_id else "superseded" if entry else "unknown_or_used")
        return account_id

    def _link_account(self, tenant, entry):
        """The account a link resets, while the link still stands: the account may recover, and
        its password is the one the link was sent for (any change since, by another link, the
        user or the helpdesk, ends every link sent before it)."""
        if not entry or entry["tenant"] != tenant.id or not entry["account_id"]:
            return None
        account = self.p.accounts.get(tenant.id, entry["account_id"])
        usable = account and account.state in RECOVERABLE
        return account.id if usable and hmac.compare_digest(entry.get("password", ""), _fingerprint(account)) else None

    # --- mobile number -------------------------------------------------------------
    def normalise_phone(self, raw):
        try:
            return normalise_msisdn(raw)
        except ValueError:
            return None

    def may_change_phone(self, tenant, account_id):
        account = self.p.accounts.get(tenant.id, account_id)
        return bool(account) and account.identity_type in tenant.accounts.self_service_phone_change

    def change_phone(self, tenant, account_id, phone, actor, ip):
        if not self.may_change_phone(tenant, account_id):
            raise PermissionError("this tenant changes this account's number at a counter only")
        self.p.lifecycle.change_phone(tenant, self.p.accounts.get(tenant.id, account_id), phone, actor, ip)

    # --- sessions and offline access (ASVS 7.5.2, 10.4.9) ------------------------------
    def sessions_and_grants(self, tenant, account_id):
        """The account's sessions in every browser (this one marked), and the grants of offline
        access its portals hold, each with the portal that holds it."""
        current = self.p.sessions.load(tenant)
        sessions = [{**session, "current": bool(current) and session["sid"] == current["sid"]}
                    for session in self.p.sessions.of_account(tenant, account_id, live=True)]
        grants = []
        for listed in self.p.store.family(account_grants(account_id)):
            tokens = [entry for entry in self.p.store.family(listed["grant"]) if "client_id" in entry]
            if tokens and not self.p.store.is_revoked(listed["grant"]):
                subject = tokens[0].get("subject", {})
                grants.append({"grant": listed["grant"], "client_id": tokens[0]["client_id"],
                               "auth_time": subject.get("auth_time")})
        # this browser first, then the latest sign-ins
        return (sorted(sessions, key=lambda s: (not s["current"], -s["auth_time"])),
                sorted(grants, key=lambda g: -(g["auth_time"] or 0)))

    def end_chosen(self, tenant, account_id, sids, grant_ids, ip):
        """End the sessions (other browsers') and revoke the grants the user chose among their own."""
        sessions, grants = self.sessions_and_grants(tenant, account_id)
        sids, grant_ids = set(sids), set(grant_ids)
        ended = [s for s in sessions if s["sid"] in sids and not s["current"]]
        self.p.sessions.end_these(tenant, ended)
        self.p.lifecycle.sessions_ended(tenant, account_id, ended, reason="user", ip=ip)
        for grant in (g for g in grants if g["grant"] in grant_ids):
            self.p.revoke_grant(tenant, grant["grant"], "user", client_id=grant["client_id"], subject=account_id, ip=ip)

    # --- authenticator app (TOTP, RFC 6238) ----------------------------------------------
    def new_totp_secret(self):
        return pyotp.random_base32()

    def totp_provisioning(self, tenant, account_id, secret):
        account = self.p.accounts.get(tenant.id, account_id)
        uri = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=tenant.name_in("en"))
        return {"secret": secret, "uri": uri, "qr": segno.make(uri, error="m").svg_data_uri(scale=4)}

    def enrol_totp(self, tenant, account_id, secret, code, ip):
        if not secret or not _six_digits(code) or not pyotp.TOTP(secret).verify(code, valid_window=1):
            return None  # proved before it is saved
        codes = [f"{secrets.token_hex(2)}-{secrets.token_hex(2)}".upper() for _ in range(RECOVERY_CODES)]
        account = self.p.accounts.update(
            tenant.id, account_id, totp_secret=seal(self.p.master, secret.encode(), f"totp/{account_id}"),
            totp_recovery_codes=[self.p.passwords.hash(tenant.id, c) for c in codes])
        self.p.audit.record(tenant.id, "totp.enrolled", subject=account_id, actor=account_id, ip=ip)
        self.p.lifecycle.notify(tenant, account, "message.totp_changed")
        self._factor_changed(tenant, account_id)
        return codes

    def remove_totp(self, tenant, account_id, ip):
        account = self.p.accounts.update(tenant.id, account_id, totp_secret=None, totp_recovery_codes=[])
        self.p.audit.record(tenant.id, "totp.removed", subject=account_id, actor=account_id, ip=ip)
        self.p.lifecycle.notify(tenant, account, "message.totp_changed")
        self._factor_changed(tenant, account_id)

    def _factor_changed(self, tenant, account_id):
        # whoever else is signed in as this user (a stolen session, say) is signed out; the owner,
        # who just proved the factors it took, stays signed in here (ASVS 7.4.3)
        self.p.lifecycle.end_sessions(tenant, account_id, keep_this_browser=True)

    def _recovery_code_matches(self, tenant, account_id, stored, code) -> bool:
        # a code has 32 bits, so each is kept as a password is, salted argon2 (ASVS 6.5.2); codes
        # from before are an HMAC under the master key
        if stored.startswith("$argon2"):
            return self.p.passwords.verify(tenant.id, stored, code)
        legacy = hmac.new(self.p.master, f"recovery:{account_id}:{code}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(stored, legacy)

    def has_totp(self, tenant, account_id):
        account = account_id and self.p.accounts.get(tenant.id, account_id)
        return bool(account and account.totp_secret)

    def has_phone(self, tenant, account_id):
        account = account_id and self.p.accounts.get(tenant.id, account_id)
        return bool(account and account.phone)

    def username_of(self, tenant, account_id):
        account = account_id and self.p.accounts.get(tenant.id, account_id)
        return account.username if account else None

    def verify_totp(self, tenant, account_id, code):
        account = self.p.accounts.get(tenant.id, account_id) if account_id else None
        if not (account and account.totp_secret) or len(code) > 16:
            return False
        # rate-limited per account (ASVS 6.3.1), each try numbered before it is compared so that
        # guesses sent side by side cannot share one count; a success starts the count again
        # and at most TOTP_FAILURE_CEILING in a row, over days, until the helpdesk lifts it
        # (NIST SP 800-63B rev. 4 3.2.2: the window alone would let ~960 guesses a day)
        tries, in_a_row, store = f"totp_tries:{account.id}", _totp_failures_key(account), self.p.store
        if store.incr(tries, ttl=TOTP_WINDOW) > TOTP_TRIES:
            reason = "too_many_attempts"
        elif store.incr(in_a_row, ttl=TOTP_CEILING_KEPT) > TOTP_FAILURE_CEILING:
            reason = "failure_ceiling"
        else:
            reason = None
        if reason:
            self.p.audit.record(tenant.id, "totp.refused", outcome="failure", subject=account.id, reason=reason)
            return False
        if self._totp_matches(tenant, account, code):
            store.delete("counter", tries, in_a_row)
            return True
        self.p.audit.record(tenant.id, "totp.failed", outcome="failure", subject=account.id)
        return False

    def _totp_matches(self, tenant, account, code):
        if "-" in code:
            return self._use_recovery_code(tenant, account, code)
        if not _six_digits(code):
            return False
        secret = unseal(self.p.master, account.totp_secret, f"totp/{account.id}").decode()
        if not pyotp.TOTP(secret).verify(code, valid_window=1):
            return False
        # a TOTP code is single use too (ASVS 6.5.1)
        return self.p.store.incr(f"totp_used:{account.id}:{code}", ttl=90) == 1

    def _use_recovery_code(self, tenant, account, code):
        code = code.strip().upper()
        matched = next((stored for stored in account.totp_recovery_codes
                        if self._recovery_code_matches(tenant, account.id, stored, code)), None)
        # struck from the list under the row's write lock, not from `account` as read before:
        # of two uses at once only one finds it there
        remaining = None if matched is None else self.p.accounts.take_recovery_code(tenant.id, account.id, matched)
        if remaining is None:
            return False
        self.p.audit.record(tenant.id, "totp.recovery_code_used", subject=account.id, remaining=remaining)
        return True


def _six_digits(code: str) -> bool:
    # ASCII only: pyotp reads "１２３４５６" as 123456 (NFKC), and the once-only mark is keyed on
    # the code as given, so another spelling of a used code would pass again (ASVS 6.5.1)
    return len(code) == 6 and code.isascii() and code.isdigit()


# the limits' keys, read by the checks and cleared by clear_limits(): one spelling each
def _link_cooldown_key(tenant, limited: str) -> str:
    return f"{tenant.id}:{limited}"


def _link_day_key(tenant, limited: str) -> str:
    return f"reset_link_day:{tenant.id}:{limited}:{datetime.now(timezone.utc):%Y%m%d}"


def _totp_failures_key(account) -> str:
    return f"totp_failures:{account.id}"


def clear_limits(store, tenant, account) -> None:
    """The helpdesk lifts an account's reset-link count for today, its block after wrong
    authenticator codes (with its TAC count), today's count of user IDs sent to its number
    (anyone who knows the number can run that up) and the hour's block on activation codes."""
    store.delete("reset_link_sent", _link_cooldown_key(tenant, account.id))
    phone = f"{tenant.id}:{account.phone}" if account.phone else None
    if phone:
        store.delete("username_sms", phone)
    store.delete("counter", _link_day_key(tenant, account.id), _totp_failures_key(account),
                 _activation_key(tenant, account.username), *([_username_day_key(phone)] if phone else []))


def clear_activation_attempts(store, tenant, username) -> None:
    """A new activation code (the helpdesk re-issued it) starts with the hour's attempts unspent."""
    store.delete("counter", _activation_key(tenant, username))


def _activation_key(tenant, username) -> str:
    return f"activation:{tenant.id}:{username_key(username)}"


def _username_day_key(number: str) -> str:
    return f"username_sms_day:{number}"


def _may_set_password(account, reason, credential) -> bool:
    """Checked on the row as the password is written: a helpdesk action or another flow may have
    come between the flow's checks and this write."""
    if reason in ("activation", "first_sign_in"):
        # set once, only by a flow that passed the credential the account awaits now (not the same
        # code again, nor one the helpdesk has since replaced), and within the activation window
        return holds_awaited_credential(account, credential) and not activation_lapsed(account)
    if reason == "recovery":
        return account.state in RECOVERABLE  # not an account the helpdesk deactivated meanwhile
    return True


def _fingerprint(account) -> str:
    return digest(f"{account.id}:{account.password_hash or ''}")


def _claim_key(claimed: dict) -> str:
    """What the user typed to say who they are, normalised as find_for_recovery looks it up, so
    that spellings of one identity count as one (the daily cap must not tell accounts apart)."""
    if claimed.get("username"):
        return "user:" + username_key(claimed["username"])
    national_id, phone = claimed.get("national_id") or "", claimed.get("phone") or ""
    identity = _identity(national_id, phone) or ("".join(c for c in national_id if c.isalnum()).upper(),
                                                 "".join(c for c in phone if c.isdigit()))
    return "identity:{}:{}".format(*identity)


def _identity(national_id: str, phone: str) -> tuple[str, str] | None:
    """MyKad number and mobile number as accounts hold them, or None when either is malformed."""
    try:
        return validate_mykad(national_id, date.today()), normalise_msisdn(phone)
    except ValueError:
        return None
