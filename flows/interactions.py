"""Starting an interaction: the JSON plan in the ephemeral store, bound to this browser by a
cookie. Used by the authorization endpoint and by the self-service pages."""
import secrets
import time

from flask import redirect, request

from .i18n import negotiate
from .stage import plan_for

INTERACTION = "interaction"
INTERACTION_COOKIE = "idp_interaction"


def start(services, tenant, flow: str, *, params=None, return_to=None, account_id=None, reasons=(),
          locale=None, **extra):
    plan_for(flow, tenant)  # KeyError for an unknown flow, before anything is stored
    uid = secrets.token_urlsafe(24)
    ttl = tenant.tokens.interaction_lifetime.total_seconds()
    params = params or {}
    interaction = {
        "uid": uid, "tenant": tenant.id, "flow": flow, "reasons": list(reasons), "params": params,
        "stage": 0, "result": {}, "state": {}, "account_id": account_id, "return_to": return_to,
        "locale": locale or negotiate(tenant, params.get("ui_locales") or request.args.get("ui_locales")),
        "expires_at": time.time() + ttl, **extra,
    }
    if return_to:
        interaction["return_to"] = return_to.format(uid=uid)
    services.store.put(INTERACTION, uid, interaction, ttl)
    response = redirect(f"/t/{tenant.id}/interaction/{uid}", code=303 if request.method == "POST" else 302)
    response.set_cookie(INTERACTION_COOKIE, uid, path=f"/t/{tenant.id}", secure=services.secure_cookies(),
                        httponly=True, samesite="Lax", max_age=int(ttl))
    return response
