"""The `login` flow: username and password (OIDC Core 3.1.2.3 authenticates the end-user).

The outcome never says whether the username exists (ASVS 6.3.8): unknown user, wrong password
and an account that may not sign in all get the same message.
"""
from ..stage import Flow, Invalid, Ok, Stage, flow


class PasswordStage(Stage):
    name = "password"
    template = "login.html"

    def challenge(self, ctx):
        return {"username": ctx.interaction["params"].get("login_hint", "")[:64]}

    def submit(self, ctx, form):
        username = (form.get("username") or "").strip()[:128]
        password = form.get("password") or ""
        if not username or not password or len(password) > 1024:
            return Invalid("login.missing", {"username": username})
        outcome = ctx.services.accounts.sign_in(ctx.tenant, username, password, ctx.ip)
        if not outcome.account_id:
            return Invalid(outcome.message or "login.failed", {"username": username})
        result = {"account_id": outcome.account_id, "amr": ["pwd"], "acr": ctx.tenant.base_acr}
        if outcome.credential:  # a temporary password: the password_change flow that follows needs it
            result["credential"] = outcome.credential
        return Ok(result)


@flow("login")
def login(tenant) -> Flow:
    return Flow("login", (PasswordStage(),))
