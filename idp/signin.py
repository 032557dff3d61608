"""Password sign-in with the tenant's rules: throttling and lockout, activation windows,
dormancy (ASVS 6.3.1, 6.3.8; NIST SP 800-63B rev. 4 3.2.2).

Every refusal costs one argon2 verification and ends in the same generic message, unless the
user has just proved who they are with the right password: then an expired activation or a
dormant account is explained (they learn nothing about anyone else). A lock is told to the
account's owner through their own channel, never on the page.
"""
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from policies.account_state import AccountState
from policies.activation import activation_open
from policies.dormancy import is_dormant
from policies.lockout import NIST_MAX_CONSECUTIVE_FAILURES, LockoutRules, after_failure, is_locked
from .accounts import AccountError, username_key
from .audit import typed_name
from .oauth.subject import digest

IP_FAILURE_LIMIT = 100      # failures from one address per hour before it is refused
IP_WINDOW = 3600
# each temporary lock starts its count again; this run of failures does not, so that an account
# sees at most 100 consecutive failures (NIST SP 800-63B rev. 4 3.2.2); then it stays locked until
# the helpdesk unlocks it or the owner resets the password by TAC (told, as for any lock)
RUN_WINDOW = 30 * 24 * 3600
FAILURES_KEPT = 24 * 3600  # seconds a count of failures lasts without another


@dataclass
class SignInOutcome:
    account_id: str | None
    reason: str
    message: str = "login.failed"   # catalog key shown to the user
    credential: str | None = None   # awaited_credential() of the account when this passed its first credential


def awaited_credential(account) -> str | None:
    """A fingerprint of the first credential (activation code, temporary password) the account
    awaits, None when it awaits none. A flow that passes that credential keeps the fingerprint;
    a helpdesk re-issue replaces the credential, and the fingerprint with it."""
    if account.state == AccountState.PENDING_ACTIVATION:
        secret = account.activation_secret
    else:
        secret = account.password_hash if account.must_change_password else None
    return secret and digest(secret)


def activation_lapsed(account, now: datetime | None = None) -> bool:
    """Whether the account awaits its first credential past its activation deadline (ASVS
    6.4.1): the one check for a sign-in, an activation code and a first password alike. A
    pending account without a deadline has no window open (fail closed)."""
    deadline = account.activation_deadline
    if deadline is None:
        return account.state == AccountState.PENDING_ACTIVATION
    return not activation_open(now or datetime.now(timezone.utc), deadline)


def holds_awaited_credential(account, credential: str | None) -> bool:
    """Whether `credential` (a fingerprint a flow or session kept) is the one the account awaits."""
    awaited = awaited_credential(account)
    return bool(awaited and credential) and hmac.compare_digest(awaited, credential)


def _counter(tenant, username):
    return f"signin:{tenant.id}:{username_key(username)}"


# Beside the failures counted at `key` (the lock's threshold and delay), two numberings of
# attempts: this lock cycle's, and the run of compared passwords that NIST's ceiling counts
def _cycle(key):
    return f"cycle:{key}"


def _run(key):
    return f"run:{key}"


def sign_in(provider, tenant, username: str, password: str, ip: str | None) -> SignInOutcome:
    now = datetime.now(timezone.utc)
    key = _counter(tenant, username)
    rules = LockoutRules(threshold=tenant.lockout.threshold, lock_duration=tenant.lockout.lock_duration)
    refused = _refused(provider, tenant, key, ip)
    account = provider.accounts.find(tenant.id, username)
    run = None
    if not refused:
        # numbered before the password is compared, as authenticator codes are: guesses sent
        # side by side are each counted, and one past the lock's threshold (or NIST's ceiling)
        # is refused unchecked, instead of all being compared before any was counted. Only one
        # within the threshold joins the run: the ceiling counts passwords compared
        if provider.store.incr(_cycle(key), ttl=FAILURES_KEPT) > rules.threshold:
            refused = "locked"
        else:
            run = provider.store.incr(_run(key), ttl=RUN_WINDOW)
            if run > NIST_MAX_CONSECUTIVE_FAILURES:
                refused = "locked"  # _failure puts the ceiling's lock in place, as for the 100th
            elif _locked(provider, key):
                # locked while this attempt was on its way: a lock clears the count after it is
                # written, so an attempt numbered after that sees it here, and is refused unchecked
                refused = "locked"
    if refused or account is None:
        provider.passwords.verify(tenant.id, None, password)  # same cost as a real check
        return _failure(provider, tenant, username, account, ip, key, rules, now, refused or "unknown_user", run)
    if account.state == AccountState.LOCKED and account.locked_until and not is_locked(account.locked_until, now):
        try:
            account = provider.lifecycle.transition(tenant, account, AccountState.ACTIVE, actor="system",
                                                    reason="lock_expired", locked_until=None)
        except AccountError:  # changed meanwhile: another sign-in lifted it too, or the helpdesk acted
            account = provider.accounts.get(tenant.id, account.id)
    secret = account.activation_secret if account.state == AccountState.PENDING_ACTIVATION else account.password_hash
    if not provider.passwords.verify(tenant.id, secret, password):
        return _failure(provider, tenant, username, account, ip, key, rules, now, "bad_password", run)
    if account.state == AccountState.ACTIVE and provider.passwords.needs_rehash(tenant.id, secret):
        # the tenant raised its argon2 cost: upgrade while we hold the password
        account = provider.accounts.update(tenant.id, account.id,
                                           password_hash=provider.passwords.hash(tenant.id, password))
    return _after_password(provider, tenant, account, ip, key, now)


def _locked(provider, key) -> bool:
    return provider.store.get("signin_lock", key) is not None or provider.store.get("signin_ceiling", key) is not None


def _refused(provider, tenant, key, ip) -> str | None:
    if _locked(provider, key):
        return "locked"
    if provider.store.get("signin_throttle", key) is not None:
        return "throttled"
    if ip and provider.store.get("signin_ip_block", f"{tenant.id}:{ip}") is not None:
        return "ip_blocked"
    return None


def _after_password(provider, tenant, account, ip, key, now) -> SignInOutcome:
    provider.store.delete("counter", key, _run(key), _cycle(key))  # the right password ends the runs
    state = AccountState(account.state)
    if state == AccountState.ACTIVE and _dormant(tenant, account, now):
        try:
            provider.lifecycle.transition(tenant, account, AccountState.DORMANT, actor="system", reason="no_sign_in",
                                          ip=ip)
        except AccountError:  # changed meanwhile (helpdesk): not signed in now, whatever it became
            return SignInOutcome(None, "changed")
        state = AccountState.DORMANT
    outcome = {
        AccountState.ACTIVE: SignInOutcome(account.id, "ok", ""),
        AccountState.PENDING_ACTIVATION: SignInOutcome(account.id, "activation", ""),
        AccountState.DORMANT: SignInOutcome(None, "dormant", "login.contact_helpdesk"),
        AccountState.DEACTIVATED: SignInOutcome(None, "deactivated", "login.contact_helpdesk"),
    }.get(state, SignInOutcome(None, state.value))
    if state == AccountState.PENDING_ACTIVATION and activation_lapsed(account, now):
        outcome = SignInOutcome(None, "activation_expired", "login.activation_expired")
    if outcome.account_id:
        outcome.credential = awaited_credential(account)
        provider.accounts.touch(tenant.id, account.id, now)
    provider.audit.record(tenant.id, "login.password", outcome="success" if outcome.account_id else "failure",
                          subject=account.id, ip=ip, reason=outcome.reason)
    return outcome


def _dormant(tenant, account, now) -> bool:
    period = tenant.accounts.dormancy_period
    return is_dormant(account.last_sign_in_at, account.activated_at or account.created_at, now, period)


def _failure(provider, tenant, username, account, ip, key, rules, now, reason, run=None) -> SignInOutcome:
    """`run`: this attempt's place in the run of compared passwords (numbered by sign_in before
    comparing; None for an attempt refused before it was numbered, which guessed nothing). An
    unknown user ID runs one too, so that a wrong password costs the same store work either way."""
    store = provider.store
    failures = store.incr(key, ttl=FAILURES_KEPT)
    verdict = after_failure(failures, now, rules)
    ceiling = run is not None and run >= NIST_MAX_CONSECUTIVE_FAILURES
    if ip and store.incr(f"signin_ip:{tenant.id}:{ip}", ttl=IP_WINDOW) >= IP_FAILURE_LIMIT:
        store.put("signin_ip_block", f"{tenant.id}:{ip}", {}, IP_WINDOW)
    if ceiling:
        store.put("signin_ceiling", key, {}, RUN_WINDOW)
        store.delete("counter", key, _cycle(key))
        store.delete("signin_throttle", key)
        if account is not None:
            _lock(provider, tenant, account, now + timedelta(seconds=RUN_WINDOW), ip)
    elif verdict.locked_until and store.get("signin_lock", key) is None:
        store.put("signin_lock", key, {}, rules.lock_duration.total_seconds())
        store.delete("counter", key, _cycle(key))  # each lock starts its count again
        store.delete("signin_throttle", key)  # the lock replaces the delay
        if account is not None:
            _lock(provider, tenant, account, verdict.locked_until, ip)
    elif verdict.delay.total_seconds() > 0:
        store.put("signin_throttle", key, {}, verdict.delay.total_seconds())
    provider.audit.record(tenant.id, "login.password", outcome="failure", subject=account and account.id,
                          actor=None if account else typed_name(provider.master, username), ip=ip, reason=reason,
                          failures=failures)
    return SignInOutcome(None, reason)


def _lock(provider, tenant, account, until, ip):
    """Lock the account until `until`, or move the end of its lock there; the owner is told."""
    if account.state == AccountState.ACTIVE:
        try:
            provider.lifecycle.lock(tenant, account, until, ip=ip)
        except AccountError:  # deactivated or terminated meanwhile: that stands, nothing to lock
            pass
    elif account.state == AccountState.LOCKED:
        provider.accounts.update(tenant.id, account.id, locked_until=until)
        provider.audit.record(tenant.id, "account.lock_extended", subject=account.id, ip=ip,
                              locked_until=until.isoformat())
        provider.lifecycle.notify(tenant, account, "message.locked", until=tenant.local_time(until))
    else:
        # pending, dormant, ...: its state stays, the lock in the store holds its sign-ins; the
        # helpdesk must see why they are refused, and an owner waiting to activate hears of it
        provider.audit.record(tenant.id, "signin.locked", subject=account.id, ip=ip, state=str(account.state),
                              locked_until=until.isoformat())
        if account.state == AccountState.PENDING_ACTIVATION:
            provider.lifecycle.notify(tenant, account, "message.locked", until=tenant.local_time(until))


def clear_failures(provider, tenant, username):
    """A helpdesk unlock or a password reset: the owner has proved who they are another way."""
    key = _counter(tenant, username)
    for kind in ("signin_lock", "signin_throttle", "signin_ceiling"):
        provider.store.delete(kind, key)
    provider.store.delete("counter", key, _run(key), _cycle(key))
