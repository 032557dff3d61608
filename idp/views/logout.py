"""RP-Initiated Logout (the end_session endpoint) and the sign-out pages."""
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, make_response, redirect, request

from flows.csrf import csrf_token, csrf_valid
from ..oauth.logout import UnregisteredReturn, notify_backchannel
from . import page, provider, tenant_or_404

bp = Blueprint("logout", __name__, url_prefix="/t/<tenant_id>")


@bp.route("/logout", methods=["GET", "POST"])
def end_session(tenant_id):
    tenant = tenant_or_404(tenant_id)
    p = provider()
    server = p.servers[tenant.id]
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        details = {"error": error.error, "description": error.description}  # for the portal's developers
        if p.sessions.load(tenant):
            # no redirect (RP-Initiated 3, 4); but the user, whose portal has signed them out
            # already, may still sign out here (a shared computer), on confirming. A hint that
            # does not verify (signed by a key since retired, say) goes no further either
            kept = {"ui_locales"} if not isinstance(error, UnregisteredReturn) \
                else {"id_token_hint", "state", "client_id", "ui_locales"}
            return _confirm(tenant, 400, kept, **details)
        # nothing to sign out of: the error alone
        return page(tenant, "error.title", "error.text", 400, **details)
    session = p.sessions.load(tenant)
    confirmed = request.method == "POST" and csrf_valid(p.master, _binding(tenant), request.form.get("csrf_token"))
    if session and not confirmed and not _hint_names(validated.id_token_claims, session):
        # no hint, or a hint about someone else's sign-in (any ID token will do for a forged
        # link): ask the user, so a forged link cannot sign them out (ASVS 10.6.2)
        return _confirm(tenant, 200, CONFIRM_FIELDS)
    ended = p.sessions.end_current(tenant)
    if ended:
        p.audit.record(tenant.id, "logout", subject=ended["account_id"], ip=request.remote_addr,
                       client_id=validated.client.client_id if validated.client else None)
        notify_backchannel(p, tenant, ended["clients"], ended["account_id"], ended["sid"])
    if validated.redirect_uri:
        response = redirect(validated.redirect_uri, code=303 if request.method == "POST" else 302)
    else:
        response = make_response(page(tenant, "logout.done.title", "logout.done.text", 200))
    p.sessions.clear_cookie(tenant, response)
    return response


CONFIRM_FIELDS = {"id_token_hint", "post_logout_redirect_uri", "state", "client_id", "ui_locales"}


def _confirm(tenant, status, kept, **extra):
    """The page asking the user to sign out, carrying the `kept` parameters. The hint goes along,
    validated again when they confirm: without it the client's (registered)
    post_logout_redirect_uri could not be used."""
    params = request.args if request.method == "GET" else request.form  # as the endpoint reads them
    fields = {k: v for k, v in params.items() if k in kept}
    return page(tenant, "logout.confirm.title", "logout.confirm.text", status, template="logout_confirm.html",
                fields=fields, csrf_token=csrf_token(provider().master, _binding(tenant)), **extra)


def _hint_names(claims, session) -> bool:
    """Whether the id_token_hint was issued for this session (its subject, and its sid if any)."""
    if not claims:
        return False
    return claims.get("sub") == session["account_id"] and claims.get("sid", session["sid"]) == session["sid"]


def _binding(tenant):
    return f"logout:{tenant.id}:{request.cookies.get('idp_session', '')}"
