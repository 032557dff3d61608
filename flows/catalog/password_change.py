"""Password changes.

`password_change`: a temporary or admin-issued password must be replaced before any code is
issued (the interaction policy's `must_change_password` check asks for it again on every
authorization request, so restarting the request cannot skip it).

`password_update`: a signed-in user changes their password, with the current one and the new
one on one form (ASVS 6.2.2, 6.2.3); their other browsers are signed out, this one stays.
"""
from ..stage import Flow, Invalid, flow
from ..stages import NewPasswordStage, account_of


class CurrentAndNewPasswordStage(NewPasswordStage):
    name = "password_update"

    def __init__(self):
        super().__init__(reason="change")

    def challenge(self, ctx):
        return {**super().challenge(ctx), "current": True}

    def submit(self, ctx, form):
        current = form.get("current_password") or ""
        if not current or len(current) > 1024:
            return Invalid("password.current_missing")
        # checked as a sign-in is, throttling and lockout included
        if not ctx.services.accounts.verify_password(ctx.tenant, account_of(ctx), current, ctx.ip):
            return Invalid("password.current_wrong")
        return super().submit(ctx, form)


@flow("password_change")
def password_change(tenant) -> Flow:
    return Flow("password_change", (NewPasswordStage(reason="first_sign_in"),))


@flow("password_update")
def password_update(tenant) -> Flow:
    return Flow("password_update", (CurrentAndNewPasswordStage(),))
