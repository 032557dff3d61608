"""Password changes.

`password_change`: a temporary or admin-issued password must be replaced before any code is
issued (the interaction policy's `must_change_password` check asks for it again on every
authorization request, so restarting the request cannot skip it).

`password_update`: a signed-in user changes their password, with the current one and the new
one on one form (ASVS 6.2.2, 6.2.3); their other browsers are signed out, this one stays.
"""
from ..stage import Flow, flow
from ..stages import NewPasswordStage, password_refused


class CurrentAndNewPasswordStage(NewPasswordStage):
    name = "password_update"

    def __init__(self):
        super().__init__(reason="change")

    def challenge(self, ctx):
        return {**super().challenge(ctx), "current": True}

    def submit(self, ctx, form):
        refused = password_refused(ctx, form.get("current_password") or "",
                                   missing="password.current_missing", wrong="password.current_wrong")
        return refused or super().submit(ctx, form)


@flow("password_change")
def password_change(tenant) -> Flow:
    return Flow("password_change", (NewPasswordStage(reason="first_sign_in"),))


@flow("password_update")
def password_update(tenant) -> Flow:
    return Flow("password_update", (CurrentAndNewPasswordStage(),))
