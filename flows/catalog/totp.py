"""An authenticator app (TOTP, RFC 6238) as the stronger alternative to SMS (NIST SP 800-63B
rev. 4 treats SMS as restricted; ASVS 6.6.1): enrol with a QR code, prove it works before it is
saved, keep ten one-time recovery codes. Enrolment needs the password and a TAC (and the current
code when one is replaced); removal needs the password and a current code."""
from ..stage import Flow, Invalid, Ok, Stage, flow
from ..stages import ReauthenticateStage, TacStage, TotpStage, account_of


class EnrolStage(Stage):
    name = "totp_enrol"
    template = "totp_enrol.html"

    def challenge(self, ctx):
        state = ctx.interaction.setdefault("state", {})
        if "totp_secret" not in state:
            state["totp_secret"] = ctx.services.accounts.new_totp_secret()
            ctx.services.save_interaction(ctx.interaction)
        return ctx.services.accounts.totp_provisioning(ctx.tenant, account_of(ctx), state["totp_secret"])

    def submit(self, ctx, form):
        secret = ctx.interaction.get("state", {}).get("totp_secret")
        codes = ctx.services.accounts.enrol_totp(ctx.tenant, account_of(ctx), secret,
                                                 (form.get("code") or "").strip(), ctx.ip)
        if codes is None:
            return Invalid("totp.invalid")
        ctx.interaction["state"] = {"recovery_codes": codes}  # the secret leaves the interaction
        return Ok()


class RecoveryCodesStage(Stage):
    name = "recovery_codes"
    template = "recovery_codes.html"

    def challenge(self, ctx):
        return {"codes": ctx.interaction.get("state", {}).get("recovery_codes", [])}

    def submit(self, ctx, form):
        ctx.interaction["state"] = {}
        return Ok()


class RemoveStage(Stage):
    name = "totp_remove"
    template = "confirm.html"

    def challenge(self, ctx):
        return {"text": "totp.remove.confirm"}

    def submit(self, ctx, form):
        ctx.services.accounts.remove_totp(ctx.tenant, account_of(ctx), ctx.ip)
        return Ok()


@flow("totp_enrol")
def totp_enrol(tenant) -> Flow:
    # an authenticator that can stand in for the TAC is bound only by someone who has the
    # factors it joins: the password, a TAC to the registered number, and the current
    # authenticator when one is replaced (NIST SP 800-63B rev. 4 4.1.2.1)
    return Flow("totp_enrol", (ReauthenticateStage(), TotpStage(), TacStage("totp_enrol"),
                               EnrolStage(), RecoveryCodesStage()))


@flow("totp_remove")
def totp_remove(tenant) -> Flow:
    return Flow("totp_remove", (ReauthenticateStage(), TotpStage(), RemoveStage()))
