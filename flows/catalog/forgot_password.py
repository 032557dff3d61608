"""`forgot_password` ("Lupa Kata Laluan"): identify, prove the registered phone with a TAC (or,
where the tenant allows, an emailed link), pass any second factor, choose a new password.

The identify step answers the same whether or not an account matched (ASVS 6.3.8); a code for
no account simply never verifies.
"""
from ..stage import Flow, Invalid, Ok, Stage, flow
from ..stages import NewPasswordStage, TacStage, TotpStage, identity_refused


class IdentifyStage(Stage):
    name = "identify"
    template = "identify.html"

    def challenge(self, ctx):
        return {"ask_username": True}

    def submit(self, ctx, form):
        username = (form.get("username") or "").strip()[:128]
        national_id = (form.get("national_id") or "").strip()[:32]
        phone = (form.get("phone") or "").strip()[:32]
        if not username and not (national_id and phone):
            return Invalid("recovery.identify_missing", {"username": username})
        if not username and (refused := identity_refused(national_id, phone)):
            return refused
        account_id = ctx.services.accounts.find_for_recovery(
            ctx.tenant, username=username, national_id=national_id, phone=phone)
        ctx.interaction["account_id"] = account_id
        # who the user said they are: the TAC limits count this when no account matched
        ctx.interaction["claimed"] = ({"username": username} if username
                                      else {"national_id": national_id, "phone": phone})
        ctx.services.audit.record(ctx.tenant.id, "recovery.started", subject=account_id, ip=ctx.ip,
                                  outcome="success" if account_id else "failure")
        return Ok()


class EmailLinkStage(Stage):
    """Where the tenant allows it, the reset goes by an emailed link instead of a TAC."""

    name = "email_link"
    template = "info.html"

    def applies(self, ctx):
        return ctx.tenant.accounts.recovery_by_email and not ctx.interaction.get("via_link")

    def challenge(self, ctx):
        state = ctx.interaction.setdefault("state", {})
        if not state.get("link_sent"):
            state["link_sent"] = True
            ctx.services.save_interaction(ctx.interaction)  # once: a reload of the page sends nothing
            sent = ctx.services.accounts.send_reset_link(ctx.tenant, ctx.interaction.get("account_id"), ctx.locale,
                                                         ctx.interaction.get("claimed"))
            if sent == "delivery_failed":
                state["link_failed"] = True
                ctx.services.save_interaction(ctx.interaction)
        return {"text": "recovery.link_failed" if state.get("link_failed") else "recovery.link_sent"}

    def submit(self, ctx, form):
        # the page has no form: a POST here is a form posted twice, or a replay; the page again
        return Invalid("recovery.link_sent")


class RecoveryTacStage(TacStage):
    def applies(self, ctx):
        return not ctx.tenant.accounts.recovery_by_email and not ctx.interaction.get("via_link")


@flow("forgot_password")
def forgot_password(tenant) -> Flow:
    return Flow("forgot_password", (IdentifyStage(), EmailLinkStage(), RecoveryTacStage("recovery"),
                                    TotpStage(), NewPasswordStage(reason="recovery")))


@flow("password_reset")
def password_reset(tenant) -> Flow:
    """Opened from the emailed link: the link already proved the mailbox."""
    return Flow("password_reset", (TotpStage(), NewPasswordStage(reason="recovery")))
