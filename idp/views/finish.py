"""What happens when a flow completes (DESIGN.md "How a sign-in travels", step 4).

Inside an authorization request: a fresh SSO session when the flow authenticated someone, then
back to the request, which now passes the interaction policy. A self-service flow (activation,
recovery) ends on a page saying what happened, with the way back to the sign-in it came from.
"""
import time

from flask import current_app, make_response, redirect, request

from flows.executor import INTERACTION
from flows.views import SIGNED_IN, bind_interaction, interaction_url, release_interaction, return_url
from ..oauth.logout import notify_backchannel
from . import page, provider


def finish(tenant, interaction: dict, result: dict):
    p = provider()
    interaction["done"] = True
    p.store.put(INTERACTION, interaction["uid"], interaction, max(1.0, interaction["expires_at"] - time.time()))
    if not interaction.get("return_to"):
        response = _done_page(tenant, interaction)
        if interaction["flow"] in SIGNED_IN and "pwd" in result.get("amr", ()):
            p.sessions.reauthenticated(tenant, response, interaction["account_id"])
        return response
    response = make_response(redirect(return_url(interaction), code=303 if request.method == "POST" else 302))
    previous, owner = p.sessions.load(tenant), interaction.get("account_id")
    # a step-up raises the session it was asked for: that session still there and still this
    # account's, and nobody else signed in meanwhile. Otherwise nothing is raised, and a step-up
    # alone (a TAC, no password) makes no session
    if interaction.get("step_up") and owner and previous and previous["account_id"] == owner \
            and result.get("account_id", owner) == owner:
        result = {**result, "account_id": owner, "step_up": interaction["step_up"]}
    if result.get("account_id"):
        session = p.sessions.establish(tenant, response, result, previous)
        stepped_up = session.get("step_up") and session["step_up"] != (previous or {}).get("step_up")
        level = session["step_up"] if stepped_up else session
        p.audit.record(tenant.id, "session.stepped_up" if stepped_up else "session.started",
                       subject=session["account_id"], ip=request.remote_addr, sid=session["sid"],
                       acr=level["acr"], amr=level["amr"])
        if previous and session["sid"] != previous["sid"]:  # another user's sign-in ended this one
            p.audit.record(tenant.id, "session.replaced", subject=previous["account_id"], ip=request.remote_addr)
            notify_backchannel(p, tenant, previous["clients"], previous["account_id"], previous["sid"])
    return response


def _done_page(tenant, interaction):
    back = interaction.get("back")  # the sign-in it was opened from, held by this browser then
    # else the portal's own site (opened from its link or an email): not a dead end
    back_url = interaction_url(tenant, back, interaction["locale"]) if back else tenant.branding.portal_url or None
    flow = interaction["flow"]
    response = make_response(page(tenant, f"done.{flow}.title", f"done.{flow}.text", 200,
                                  locale=interaction["locale"], back_url=back_url,
                                  back_label=None if back else "link.to_portal"))
    flows, uid = current_app.extensions["flows"], interaction["uid"]
    if back:  # the way back works; this flow's own binding is let go (a reload is an expired page)
        bind_interaction(flows, tenant, response, back, release=uid)
    else:
        release_interaction(flows, tenant, response, uid)
    return response
