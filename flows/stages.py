"""Stages shared by several flows: choosing a new password, entering a TAC or an authenticator
code. Each renders one form with one submit button."""
from datetime import date

from policies.identity import normalise_msisdn, validate_mykad
from .stage import Invalid, Ok, Restart, Stage

PASSWORD_MESSAGES = {
    "too_short": "password.too_short", "too_long": "password.too_long", "common": "password.common",
    "contains_username": "password.contains_username", "contains_national_id": "password.contains_national_id",
    "contains_tenant_name": "password.contains_tenant_name", "reused": "password.reused",
    "activation_expired": "login.activation_expired",
}


def account_of(ctx) -> str | None:
    return ctx.interaction.get("account_id") or ctx.interaction.get("result", {}).get("account_id")


class NewPasswordStage(Stage):
    """NIST SP 800-63B rev. 4: length and blocklist only; the user is told which rule failed."""

    name = "new_password"
    template = "new_password.html"

    def __init__(self, reason: str):
        self.reason = reason  # audit: first_sign_in, activation, recovery

    def challenge(self, ctx):
        rules = ctx.tenant.password
        # why it is asked, where the user did not ask for it (the first sign-in with a temporary one)
        why = "password.why_first_sign_in" if self.reason == "first_sign_in" else None
        # not where the user proved MyKad and phone instead: the user ID goes only to the phone
        by_identity = bool((ctx.interaction.get("claimed") or {}).get("national_id"))
        return {"min_length": rules.min_length, "max_length": rules.max_length, "why": why,
                "username": None if by_identity else ctx.services.accounts.username_of(ctx.tenant, account_of(ctx))}

    def submit(self, ctx, form):
        new, confirm = form.get("new_password") or "", form.get("confirm_password") or ""
        account_id = account_of(ctx)
        if not account_id:
            return Restart()
        if new != confirm:
            return Invalid("password.mismatch")
        problems = ctx.services.accounts.password_problems(ctx.tenant, account_id, new)
        if problems:
            return Invalid(PASSWORD_MESSAGES.get(problems[0], "password.invalid"),
                           {"problems": [PASSWORD_MESSAGES.get(p, "password.invalid") for p in problems]})
        if not ctx.services.accounts.set_password(ctx.tenant, account_id, new, ctx.ip, self.reason,
                                                  credential=ctx.interaction.get("credential")):
            # another flow set it with the same code meanwhile, or the helpdesk issued a new code;
            # a reset: the helpdesk deactivated (or terminated) the account meanwhile
            return Invalid("login.contact_helpdesk" if self.reason == "recovery" else "password.already_set")
        # set_password ended the account's sessions; inside an authorization request the flow's
        # end signs this browser in again, under a new session id
        return Ok({"password_changed": True, "account_id": account_id, "amr": ["pwd"]})


class TacStage(Stage):
    """A one-time code sent by SMS, bound to this interaction (ASVS 6.6.2): a code issued for
    another transaction cannot pass here."""

    name = "tac"
    template = "code.html"

    def __init__(self, purpose: str):
        self.purpose = purpose

    def binding(self, ctx) -> str:
        transaction = (ctx.interaction.get("step_up") or {}).get("binding") or ""
        return f"{ctx.tenant.id}:{self.purpose}:{ctx.interaction['uid']}:{transaction}"

    def details(self, ctx) -> str:
        return "; ".join((ctx.interaction.get("step_up") or {}).get("details") or [])

    def recipient(self, ctx) -> str | None:
        """A number other than the account's (None: the registered mobile number)."""
        return None

    def _send(self, ctx) -> str:
        # "no_phone" comes back only where no identity was claimed, i.e. the user proved who they
        # are (a session, the password); a recovery reads "sent" for such an account (ASVS 6.3.8)
        return ctx.services.accounts.send_tac(ctx.tenant, account_of(ctx), self.purpose, self.binding(ctx),
                                              ctx.locale, self.details(ctx), to=self.recipient(ctx),
                                              claimed=ctx.interaction.get("claimed"))

    def challenge(self, ctx):
        state = ctx.interaction.setdefault("state", {})
        notice = None
        # a recovery's page cannot say the code went out: no account may have matched (ASVS 6.3.8)
        prompt = "tac.prompt.if_matched" if ctx.interaction.get("claimed") else "tac.prompt"
        if state.get("no_phone"):  # nothing to wait for, however often the page is shown
            return {"prompt": "tac.no_phone", "closed": True}
        if state.get(f"tac_closed:{self.purpose}"):  # too many wrong codes: no code, nor resend
            return {"prompt": prompt, "closed": True, "notice": "tac.too_many_attempts"}
        if not state.get(f"tac_sent:{self.purpose}"):
            sent = self._send(ctx)
            state[f"tac_sent:{self.purpose}"] = sent == "sent"
            state["no_phone"] = sent == "no_phone"  # the helpdesk must register a number first
            notice = None if sent == "sent" else f"tac.{sent}"
            ctx.services.save_interaction(ctx.interaction)
            if state["no_phone"]:
                return {"prompt": "tac.no_phone", "closed": True}
        return {"prompt": prompt, "resend": True, "notice": notice}

    def submit(self, ctx, form):
        state = ctx.interaction.get("state", {})
        if state.get("no_phone"):
            return Invalid("tac.no_phone")
        if state.get(f"tac_closed:{self.purpose}"):  # closed for good, whatever the store still counts
            return Invalid("tac.too_many_attempts")
        if form.get("resend"):
            verdict = self._send(ctx)
            if verdict == "sent":
                return Invalid("tac.resent.if_matched" if ctx.interaction.get("claimed") else "tac.resent", error=False)
        else:
            verdict = ctx.services.accounts.verify_tac(ctx.tenant, self.binding(ctx), (form.get("code") or "").strip())
            if verdict == "ok":
                return Ok({"amr": ["sms"]})
        if verdict == "too_many_attempts":  # the page offers neither the form nor a resend again
            ctx.interaction.setdefault("state", {})[f"tac_closed:{self.purpose}"] = True
            ctx.services.save_interaction(ctx.interaction)
        return Invalid(f"tac.{verdict}")


def identity_refused(national_id: str, phone: str) -> Invalid | None:
    """A MyKad or mobile number that cannot be anyone's, told as such: the format says nothing
    about who has an account, and a page that answered "sent" to it would be untrue (and spend
    the number's cooldown and daily count on a typo)."""
    try:
        validate_mykad(national_id, date.today())
    except ValueError:
        return Invalid("recovery.bad_national_id")
    try:
        normalise_msisdn(phone)
    except ValueError:
        return Invalid("recovery.bad_phone")
    return None


class ReauthenticateStage(Stage):
    """The password again, before a change to how the user signs in (ASVS 7.5.1)."""

    name = "reauthenticate"
    template = "password.html"

    def challenge(self, ctx):
        return {"username": ctx.services.accounts.username_of(ctx.tenant, account_of(ctx))}

    def submit(self, ctx, form):
        return password_refused(ctx, form.get("password") or "") or Ok({"amr": ["pwd"]})


def password_refused(ctx, password: str, missing="login.missing", wrong="login.failed") -> Invalid | None:
    """The signed-in user's own password, checked as a sign-in is (throttling and lockout
    included): None when it is theirs, else what to tell them."""
    if not password or len(password) > 1024:
        return Invalid(missing)
    verdict = ctx.services.accounts.verify_password(ctx.tenant, account_of(ctx), password, ctx.ip)
    if verdict == "ok":
        return None
    return Invalid({"locked": "reauth.locked", "throttled": "reauth.throttled"}.get(verdict, wrong))


class TotpStage(Stage):
    """A second factor the user enrolled is never bypassed (ASVS 6.4.3)."""

    name = "totp"
    template = "code.html"

    def applies(self, ctx):
        return ctx.services.accounts.has_totp(ctx.tenant, account_of(ctx))

    def challenge(self, ctx):
        return {"prompt": "totp.prompt", "recovery": True}

    def submit(self, ctx, form):
        # the authenticator's code, or one of the user's one-time recovery codes
        if ctx.services.accounts.verify_totp(ctx.tenant, account_of(ctx), (form.get("code") or "").strip()):
            return Ok({"amr": ["otp"]})
        return Invalid("totp.invalid")
