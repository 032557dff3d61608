"""`forgot_username` ("Lupa ID Pengguna"): national ID + registered mobile number; the user ID
goes by SMS to that number. The page says the same whether or not they matched."""
from ..stage import Flow, Invalid, Ok, Stage, flow
from ..stages import identity_refused


class IdentifyByIdStage(Stage):
    name = "identify"
    template = "identify.html"

    def challenge(self, ctx):
        return {"ask_username": False}

    def submit(self, ctx, form):
        national_id = (form.get("national_id") or "").strip()[:32]
        phone = (form.get("phone") or "").strip()[:32]
        if not (national_id and phone):
            return Invalid("recovery.identify_missing")
        if refused := identity_refused(national_id, phone):
            return refused
        account_id = ctx.services.accounts.find_for_recovery(ctx.tenant, national_id=national_id, phone=phone)
        # throttled by the number typed, so the answer is the same whether or not it matched
        sent = ctx.services.accounts.send_username(ctx.tenant, account_id, ctx.locale, phone)
        ctx.services.audit.record(ctx.tenant.id, "recovery.username", subject=account_id, ip=ctx.ip,
                                  outcome="success" if account_id and sent == "sent" else "failure",
                                  reason=None if sent == "sent" else sent)
        return Ok() if sent == "sent" else Invalid(f"username.{sent}")  # it sends the user ID, not a TAC


@flow("forgot_username")
def forgot_username(tenant) -> Flow:
    return Flow("forgot_username", (IdentifyByIdStage(),))
