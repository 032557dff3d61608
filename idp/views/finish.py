"""What happens when a flow completes: a fresh SSO session, then back to the authorization
request, which now passes the interaction policy (DESIGN.md "How a sign-in travels", step 4)."""
import time

from flask import make_response, redirect, request

from . import provider


def finish(tenant, interaction: dict, result: dict):
    p = provider()
    response = make_response(redirect(interaction["return_to"], code=303 if request.method == "POST" else 302))
    if result.get("account_id"):
        previous = p.sessions.load(tenant)
        p.sessions.establish(tenant, response, result, previous)
    interaction["done"] = True
    p.store.put("interaction", interaction["uid"], interaction, max(1.0, interaction["expires_at"] - time.time()))
    return response
