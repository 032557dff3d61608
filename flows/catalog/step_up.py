"""`step_up`: raise the session's assurance for a sensitive transaction (KWSP i-Akaun's TAC).

Password again first when the session is older than the tenant's limit, or when a sign-in from
before this request would be older than its max_age by the time a code is typed; then an authenticator
code when the user has one and the tenant accepts it, else a TAC by SMS bound to this
transaction (client, purpose and the authorization_details shown on the page and in the SMS).
"""
import time

from ..stage import Flow, flow
from ..stages import ReauthenticateStage, TacStage, TotpStage, account_of


def _uses_totp(ctx) -> bool:
    # chosen once per step-up and kept: an authenticator enrolled or removed while this step-up
    # waits must not make both of its stages stop applying
    step_up = ctx.interaction["step_up"]
    if "factor" not in step_up:
        totp = ctx.tenant.tac.totp_satisfies and ctx.services.accounts.has_totp(ctx.tenant, account_of(ctx))
        step_up["factor"] = "otp" if totp else "sms"
        ctx.services.save_interaction(ctx.interaction)
    return step_up["factor"] == "otp"


class StepUpReauthenticateStage(ReauthenticateStage):
    def applies(self, ctx):
        step_up = ctx.interaction.get("step_up") or {}
        auth_time = step_up.get("auth_time") or 0
        age = time.time() - auth_time
        if age > ctx.tenant.assurance.reauthenticate_after.total_seconds():
            return True
        # a code does not move auth_time: a sign-in from before this request that its max_age
        # would find too old by the time the code (or an authenticator's) is in is renewed first,
        # rather than the whole sign-in being asked after it (OIDC Core 3.1.2.1). One made for
        # this request (its password typed a moment ago) is not asked again
        max_age = ctx.interaction.get("params", {}).get("max_age")
        authenticated_at = step_up.get("authenticated_at") or auth_time
        before_this_request = authenticated_at < ctx.interaction.get("request_started_at", float("inf"))
        return max_age is not None and before_this_request \
            and age + ctx.tenant.tac.lifetime.total_seconds() > int(max_age)


class StepUpTotpStage(TotpStage):
    def applies(self, ctx):
        return _uses_totp(ctx)

    def challenge(self, ctx):
        return {**super().challenge(ctx), "details": ctx.interaction["step_up"].get("details", [])}


class StepUpTacStage(TacStage):
    def applies(self, ctx):
        return not _uses_totp(ctx)

    def challenge(self, ctx):
        return {**super().challenge(ctx), "details": ctx.interaction["step_up"].get("details", [])}


@flow("step_up")
def step_up(tenant) -> Flow:
    return Flow("step_up", (StepUpReauthenticateStage(), StepUpTotpStage(),
                            StepUpTacStage("step_up")))
