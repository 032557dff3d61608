"""`password_change`: a temporary or admin-issued password must be replaced before any code is
issued (the interaction policy's `must_change_password` check asks for it again on every
authorization request, so restarting the request cannot skip it)."""
from ..stage import Flow, flow
from ..stages import NewPasswordStage


@flow("password_change")
def password_change(tenant) -> Flow:
    return Flow("password_change", (NewPasswordStage(reason="first_sign_in"),))
