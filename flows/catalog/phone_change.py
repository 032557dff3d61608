"""`phone_change`: a user changes their own mobile number where the tenant allows it (KWSP
employers; members only at a counter). Password again, a TAC to the current number, then a TAC
to the new one, which is only used once proved (ASVS 6.6.1, 7.5.1). The old number is told."""
from ..stage import Flow, Invalid, Ok, Stage, flow
from ..stages import ReauthenticateStage, TacStage, account_of


class NewNumberStage(Stage):
    name = "new_phone"
    template = "phone.html"

    def submit(self, ctx, form):
        number = ctx.services.accounts.normalise_phone((form.get("phone") or "").strip()[:32])
        if number is None:
            return Invalid("phone.invalid")
        ctx.interaction.setdefault("state", {})["new_phone"] = number
        return Ok()


class NewNumberTacStage(TacStage):
    """The TAC goes to the number being proved, not to the one on file; once proved, it is saved."""

    def recipient(self, ctx):
        return ctx.interaction.get("state", {}).get("new_phone")

    def submit(self, ctx, form):
        outcome = super().submit(ctx, form)
        if isinstance(outcome, Ok):
            ctx.services.accounts.change_phone(ctx.tenant, account_of(ctx), self.recipient(ctx),
                                               actor=account_of(ctx), ip=ctx.ip)
        return outcome


@flow("phone_change")
def phone_change(tenant) -> Flow:
    return Flow("phone_change", (ReauthenticateStage(), TacStage("phone_current"),
                                 NewNumberStage(), NewNumberTacStage("phone_new")))
