"""TAC (Transaction Authorisation Code) by SMS: NIST SP 800-63B rev. 4 out-of-band codes,
ASVS 6.5/6.6.

Six digits from a CSPRNG, stored keyed-hashed in the ephemeral store and bound to the
transaction that asked (the binding), so a code for one transaction cannot approve another;
single use (consumed atomically); a few wrong entries per transaction, counted across re-sent
codes; a resend cooldown and a daily cap per account and per phone.
"""
import hashlib
import hmac
from datetime import datetime, timezone

from flows.i18n import translate
from policies.tac import TacRules, may_send, may_verify, new_tac
from .delivery import DeliveryError

TAC, LAST_SENT, FAILURES, SUBJECT_BLOCKED = "tac", "tac_last_sent", "tac_failures", "tac_subject_blocked"
SUBJECT_FAILURE_CEILING = 10  # wrong TACs in a row per account (or claimed identity) in 24 h, across flows


# the counters' keys, read by send() and verify() and cleared by clear(): one spelling each
def _day_key(tenant_id, subject, day):
    return f"tac_day:{tenant_id}:{subject}:{day}"


def _phone_day_key(phone, recovery, day):
    return f"tac_day_phone:{'recovery:' if recovery else ''}{phone}:{day}"


def _failures_key(failures_of):
    return f"tac_fail_subject:{failures_of}"


def _account_subject(account, recovery):
    return f"recovery:{account.id}" if recovery else account.id


def _account_in(subject: str | None, binding: str) -> str | None:
    """The account a code was sent for, from its `_subject` (None: a claim that matched none)."""
    if not subject or subject == binding or subject.startswith("claimed:"):
        return None
    return subject.removeprefix("recovery:")


def rules_for(tenant) -> TacRules:
    t = tenant.tac
    return TacRules(lifetime=t.lifetime, max_attempts=t.max_attempts, resend_cooldown=t.resend_cooldown,
                    daily_cap_account=t.daily_cap, daily_cap_phone=t.daily_cap)


class TacService:
    def __init__(self, provider):
        self.p = provider

    def _hash(self, binding: str, code: str) -> str:
        return hmac.new(self.p.master, f"tac:{binding}:{code}".encode(), hashlib.sha256).hexdigest()

    def _subject(self, tenant, account, claimed, binding) -> str:
        """Whom the daily cap and the failure ceiling count: the account, or for no account the
        identity the user claimed, so that both reach the cap alike (ASVS 6.3.8). A recovery
        counts apart from the signed-in flows: anyone who knows a user ID can run its recovery
        count up, and must not stop the owner's TAC-protected transactions with it (nor read,
        through the recovery pages, how many the owner made)."""
        if account:
            return _account_subject(account, recovery=claimed is not None)
        if claimed:  # already normalised as the account look-up does it (SelfService)
            return "claimed:" + hmac.new(self.p.master, f"{tenant.id}:{claimed}".encode(), hashlib.sha256).hexdigest()
        return binding

    def send(self, tenant, account, purpose: str, binding: str, locale: str, details: str = "",
             to: str | None = None, claimed: str | None = None) -> str:
        """`details` names the transaction in the SMS ("i-Akaun withdrawal application RM 5,000.00");
        `to` is a number being proved, instead of the registered one; `claimed` who the user said
        they are (see `_subject`)."""
        rules, now, store = rules_for(tenant), datetime.now(timezone.utc), self.p.store
        last = store.get(LAST_SENT, binding)
        last_sent_at = datetime.fromtimestamp(last["at"], timezone.utc) if last else None
        if not may_send(now, last_sent_at, 0, 0, rules):
            return "cooldown"
        if (store.get(FAILURES, binding) or {}).get("n", 0) >= rules.max_attempts:
            return "too_many_attempts"  # this transaction is closed: a new code could never pass
        recovery = claimed is not None  # who it is is not proved yet (idp/outgoing.py)
        if recovery and self.p.outgoing.failing("sms"):
            return "delivery_failed"  # for any ID typed, before anything is counted or stored
        if not recovery and account and not (to or account.phone):
            return "no_phone"  # a proved user with no number: nothing to count, store or send
        day = now.strftime("%Y%m%d")
        subject = self._subject(tenant, account, claimed, binding)
        blocked = store.get(SUBJECT_BLOCKED, f"{tenant.id}:{subject}") is not None
        if blocked and not recovery:
            self.p.audit.record(tenant.id, "tac.refused", outcome="failure", subject=account and account.id,
                                reason="too_many_failures", purpose=purpose)
            return "daily_cap"
        per_account = store.incr(_day_key(tenant.id, subject, day), ttl=86400)
        phone = to or (account.phone if account else None)
        # recovery counts a number apart from the signed-in flows: those say "cap reached" aloud,
        # and a count that recoveries for a real ID add to would tell that ID has this number
        # a recovery for no account counts its claim in the number's place: the same store work
        # whether or not the claim matched, so its time does not tell (ASVS 6.3.8)
        counted = phone or (subject if recovery else None)
        per_phone = store.incr(_phone_day_key(counted, recovery, day), ttl=86400) if counted else 1
        subject_capped = not may_send(now, None, per_account - 1, 0, rules)
        phone_capped = not may_send(now, None, 0, per_phone - 1, rules)
        if (subject_capped or phone_capped) and not recovery:
            self.p.audit.record(tenant.id, "tac.refused", outcome="failure", subject=account and account.id,
                                reason="daily_cap", purpose=purpose)
            return "daily_cap"
        deliver = bool(account and phone)
        held_back = recovery and ("too_many_failures" if blocked else "daily_cap" if subject_capped
                                  else "phone_daily_cap" if phone_capped else None)
        if held_back:
            # refusing aloud would tell the claim matches an account (the account's cap is shared
            # by its user ID and its MyKad and number): it reads, and verifies, like a TAC for no
            # account, as reset links do (SelfService._may_email_link); `clear-tac` lifts it
            self.p.audit.record(tenant.id, "recovery.tac_refused", outcome="failure", subject=account and account.id,
                                reason=held_back, purpose=purpose)
            deliver = False
        code = new_tac()
        ttl = rules.lifetime.total_seconds()
        # a code that went nowhere matches no guess (verify hashes six digits, or "-")
        stored = self._hash(binding, code if deliver else "not sent")
        store.put(TAC, binding, {"hash": stored, "issued_at": now.timestamp(), "subject": subject, "purpose": purpose},
                  ttl)
        store.put(LAST_SENT, binding, {"at": now.timestamp()}, max(1.0, rules.resend_cooldown.total_seconds()))
        if deliver:
            text = translate(locale, "message.tac", portal=tenant.name_in(locale), code=code,
                             minutes=int(ttl // 60) or 1,
                             purpose=details or translate(locale, f"message.tac.{purpose}"))
            if recovery:  # the page may not wait on the gateway: it would tell real IDs apart
                self.p.outgoing.send_later(tenant.id, "sms", phone, text, account_id=account.id, expires_in=ttl)
            else:
                try:
                    self.p.outgoing.send_now(tenant.id, "sms", phone, text)
                except DeliveryError as exc:
                    store.delete(TAC, binding)
                    self.p.audit.record(tenant.id, "tac.sent", outcome="failure", subject=account.id,
                                        error=str(exc))
                    return "delivery_failed"
        self.p.audit.record(tenant.id, "tac.sent", subject=account and account.id, purpose=purpose,
                            delivered=deliver)
        return "sent"  # also for an account without a number in recovery: it reads like no account

    def clear(self, tenant, account) -> None:
        """The helpdesk has checked who is calling: the account's count for today, its number's
        (the two caps are equal, so a capped account has a capped number) and any block after
        wrong codes end, in recovery and in the signed-in flows."""
        day, store = datetime.now(timezone.utc).strftime("%Y%m%d"), self.p.store
        for recovery in (False, True):
            subject = _account_subject(account, recovery)
            store.delete(SUBJECT_BLOCKED, f"{tenant.id}:{subject}")
            store.delete("counter", _day_key(tenant.id, subject, day), _failures_key(f"{tenant.id}:{subject}"))
            if account.phone:
                store.delete("counter", _phone_day_key(account.phone, recovery, day))

    def verify(self, tenant, binding: str, code: str) -> str:
        entry = self.p.store.get(TAC, binding)
        verdict = self._check(tenant, binding, code, entry)
        # recorded for a recovery code sent for no account too: the same work either way
        self.p.audit.record(tenant.id, "tac.verified" if verdict == "ok" else "tac.failed",
                            outcome="success" if verdict == "ok" else "failure",
                            subject=_account_in((entry or {}).get("subject"), binding),
                            purpose=(entry or {}).get("purpose"), reason=None if verdict == "ok" else verdict)
        return verdict

    def _check(self, tenant, binding: str, code: str, entry: dict | None) -> str:
        rules, now, store = rules_for(tenant), datetime.now(timezone.utc), self.p.store
        failures = (store.get(FAILURES, binding) or {}).get("n", 0)
        if failures >= rules.max_attempts:
            return "too_many_attempts"
        if entry is None:
            return "expired"
        issued_at = datetime.fromtimestamp(entry["issued_at"], timezone.utc)
        verdict = may_verify(now, issued_at, failures, rules)
        if not verdict:
            return verdict.reasons[0]
        # every try is numbered (atomically) before its comparison, so guesses sent side by side
        # cannot all read the same failure count. Numbered per transaction (a resent code does not
        # reset it, NIST SP 800-63B rev. 4) and per account across transactions and flows (codes
        # sent ahead and fresh attempts give no more than the ceiling a day)
        failures_of = f"{tenant.id}:{entry.get('subject') or binding}"
        attempt = store.incr(f"tac_attempt:{binding}", ttl=3600)
        tries = store.incr(_failures_key(failures_of), ttl=86400)
        if tries >= SUBJECT_FAILURE_CEILING:
            store.put(SUBJECT_BLOCKED, failures_of, {}, 86400)  # send() refuses new codes meanwhile
        if attempt > rules.max_attempts:
            store.delete(TAC, binding)
            return "too_many_attempts"
        recovery = failures_of.split(":", 1)[1].startswith(("recovery:", "claimed:"))
        if tries > SUBJECT_FAILURE_CEILING and not recovery:
            store.delete(TAC, binding)
            return "too_many_attempts"
        # past the ceiling in a recovery, the code is not compared, and the answer is the one a
        # claim that matched no account gets: saying "too many" aloud would tell that this claim
        # (a MyKad and number, say) names the account another claim (its user ID) ran up
        over = tries > SUBJECT_FAILURE_CEILING
        given = self._hash(binding, code if code.isdigit() and len(code) == 6 and not over else "-")
        if hmac.compare_digest(given, entry["hash"]) and store.consume(TAC, binding) is not None:
            store.delete("counter", _failures_key(failures_of))  # the ceiling counts failures in a row
            store.delete(SUBJECT_BLOCKED, failures_of)
            return "ok"
        store.put(FAILURES, binding, {"n": attempt}, 3600)
        if attempt >= rules.max_attempts:
            store.delete(TAC, binding)
            return "too_many_attempts"
        return "invalid"
