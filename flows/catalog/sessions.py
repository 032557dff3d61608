"""`sessions`: a signed-in user sees where they are signed in and which portals keep offline
access, and ends what they choose (ASVS 7.5.2, 10.4.9), after giving their password again."""
from datetime import datetime, timezone

from ..stage import Flow, Ok, Stage, flow
from ..stages import ReauthenticateStage, account_of


class SessionsStage(Stage):
    name = "sessions"
    template = "sessions.html"

    def challenge(self, ctx):
        sessions, grants = ctx.services.accounts.sessions_and_grants(ctx.tenant, account_of(ctx))

        def portals(client_ids):
            return ", ".join(ctx.services.client_name(ctx.tenant.id, c) or c for c in client_ids)
        return {
            "sessions": [{"sid": s["sid"], "current": s["current"], "since": self._time(ctx, s["auth_time"]),
                          "seen": self._time(ctx, s.get("seen_at")), "portals": portals(s["clients"])}
                         for s in sessions],
            "grants": [{"grant": g["grant"], "portal": portals([g["client_id"]]),
                        "since": self._time(ctx, g["auth_time"])} for g in grants],
        }

    @staticmethod
    def _time(ctx, moment):
        return ctx.tenant.local_time(datetime.fromtimestamp(moment, timezone.utc)) if moment else ""

    def submit(self, ctx, form):
        ctx.services.accounts.end_chosen(ctx.tenant, account_of(ctx), form.getlist("session"), form.getlist("grant"),
                                         ctx.ip)
        return Ok()


@flow("sessions")
def sessions(tenant) -> Flow:
    return Flow("sessions", (ReauthenticateStage(), SessionsStage()))
