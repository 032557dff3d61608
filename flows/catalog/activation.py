"""`activation`: an employer representative activates i-Akaun with the activation code from the
counter (Borang KWSP 1 / 1(i)) within the window, and chooses a password."""
from ..stage import Flow, Invalid, Ok, Stage, flow
from ..stages import NewPasswordStage


class ActivationCodeStage(Stage):
    name = "activation_code"
    template = "activation.html"

    def submit(self, ctx, form):
        username = (form.get("username") or "").strip()[:128]
        code = (form.get("activation_code") or "").strip()[:64]
        if not username or not code:
            return Invalid("activation.missing", {"username": username})
        outcome = ctx.services.accounts.check_activation_code(ctx.tenant, username, code, ctx.ip)
        if not outcome.account_id:
            return Invalid(outcome.message, {"username": username})
        ctx.interaction["account_id"] = outcome.account_id
        ctx.interaction["credential"] = outcome.credential
        return Ok()


@flow("activation")
def activation(tenant) -> Flow:
    return Flow("activation", (ActivationCodeStage(), NewPasswordStage(reason="activation")))
