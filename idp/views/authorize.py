"""The authorization endpoint (RFC 6749 4.1.1, OIDC Core 3.1.2), as a list of small steps:

1. Authlib validates client, redirect URI, response type, scope, PKCE and nonce.
2. Our own checks: response_mode, request objects, max_age, claims, id_token_hint.
3. The interaction policy (policies/interaction.py) says what is missing.
4. Missing something: prompt=none gets an error; otherwise an interaction runs the flow.
5. Nothing missing: issue the code and send it back (query or form_post) with `iss` (RFC 9207).
"""
import dataclasses
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request, UnsupportedResponseTypeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import Blueprint, current_app, make_response, redirect, render_template, request

from flows.csrf import holds_interaction
from flows.i18n import page_text
from flows.executor import INTERACTION, INTERACTION_COOKIE
from flows.views import release_interaction, request_locale, spend_interaction, start as start_interaction
from policies.interaction import InteractionFacts, evaluate, hint_unmet
from ..assurance import (AssuranceError, AssuranceRequest, assurance_request, details_lines, effective, essential_acr,
                         reported_acr, satisfied, step_down)
from ..oauth.params import MAX_JSON_PARAM, json_param
from ..oauth.subject import Subject
from ..sessions import COOKIE as SESSION_COOKIE
from . import page, provider, tenant_or_404

bp = Blueprint("authorize", __name__, url_prefix="/t/<tenant_id>")


class RedirectError(Exception):
    """An error to send back to the client's (validated) redirect URI."""

    def __init__(self, error, description=""):
        self.error, self.description = error, description


class ParamsRequest(OAuth2Request):
    """An authorization request from plain parameters (the live request, or a stored one)."""

    def __init__(self, uri, params: dict, datalist: dict):
        super().__init__("GET", uri, headers={})
        self.payload = BasicOAuth2Payload(params)
        self.payload._datalist = datalist

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return {}


POSTED, POSTED_SECONDS = "posted_authorization", 60


@bp.route("/authorize", methods=["GET", "POST"])
def authorize(tenant_id):
    tenant = tenant_or_404(tenant_id)
    # RFC 6749 3.1: a parameter sent without a value is treated as if it were omitted
    datalist = {name: given for name, values in request.values.lists() if (given := [v for v in values if v])}
    params = {k: v[0] for k, v in datalist.items()}
    if request.method == "POST" and request.form and SESSION_COOKIE not in request.cookies \
            and _keepable(tenant, datalist, params):
        return _as_get(tenant, datalist)
    return handle(tenant, params, datalist)


MAX_KEPT = 24_576  # characters of a POSTed request kept for its GET: far above any real one


def _keepable(tenant, datalist, params) -> bool:
    """Whether a POSTed request may be kept for its GET: a registered client and redirect URI,
    each parameter once and within its limit, and not much in all."""
    kept = [value for name, values in datalist.items() if name in RECOGNISED for value in values]
    return bool(_registered_redirect_uri(tenant, datalist)) and not _too_long(params) \
        and len(kept) == len({name for name in datalist if name in RECOGNISED}) \
        and all(len(params.get(name) or "") <= MAX_JSON_PARAM for name in JSON_PARAMS) \
        and sum(map(len, kept)) <= MAX_KEPT


def _as_get(tenant, datalist):
    """A POSTed request that came without the session cookie goes on as a GET of our own (303):
    a browser sends SameSite=Lax cookies on a top-level GET from another site, but not on a
    POST, and the request would not see the user's sign-in (Core 3.1.2.1: GET and POST alike).
    Only a request of a registered client and redirect URI, within the parameters' limits, is
    kept (what the endpoint reads, for a minute, to be used once); any other is answered at
    once, its error the same either way."""
    key = secrets.token_urlsafe(24)
    kept = {name: values for name, values in datalist.items() if name in RECOGNISED}
    provider().store.put(POSTED, key, {"tenant": tenant.id, "datalist": kept}, POSTED_SECONDS)
    return redirect(f"/t/{tenant.id}/authorize/posted/{key}", code=303)


@bp.get("/authorize/posted/<key>")
def posted(tenant_id, key):
    tenant = tenant_or_404(tenant_id)
    stored = provider().store.consume(POSTED, key) if len(key) <= 64 else None
    if not stored or stored["tenant"] != tenant.id:
        return page(tenant, "interaction.expired.title", "interaction.expired.text", 400)
    datalist = stored["datalist"]
    return handle(tenant, {k: v[0] for k, v in datalist.items()}, datalist)


@bp.get("/authorize/resume/<uid>")
def resume(tenant_id, uid):
    tenant = tenant_or_404(tenant_id)
    p = provider()
    # the binding first: a browser that only read the URL must not use up the owner's interaction
    bound = holds_interaction(current_app.extensions["flows"].secret, uid, request.cookies.get(INTERACTION_COOKIE))
    interaction = p.store.consume(INTERACTION, uid) if bound and len(uid) <= 64 else None
    # only an interaction an authorization request started comes back here (a finished
    # self-service flow, forgot-user-ID say, has no request to resume)
    if not interaction or interaction["tenant"] != tenant.id or not interaction.get("done") \
            or interaction.get("return_to") != _resume_path(tenant, uid):
        return page(tenant, "interaction.expired.title", "interaction.expired.text", 400,
                    locale=interaction and interaction.get("locale"))
    params = interaction["params"]
    spend_interaction(uid)  # a flow the request starts next (a step-up, say) binds itself without it
    # a response object either way: the request may end on an error page now (its client gone)
    response = make_response(handle(tenant, params, {k: [v] for k, v in params.items()},
                                    authenticated_since=interaction.get("request_started_at", time.time()),
                                    cancelled=bool(interaction.get("cancelled"))))
    if not any(c.startswith(f"{INTERACTION_COOKIE}=") for c in response.headers.getlist("Set-Cookie")):
        release_interaction(current_app.extensions["flows"], tenant, response, uid)  # unless a next flow started
    return response


def handle(tenant, params: dict, datalist: dict, authenticated_since: float | None = None, cancelled=False):
    """`authenticated_since`: back from an interaction, this request's first started then. The
    user counts as having just signed in for this request only if the session's sign-in is that
    recent: a step-up by TAC alone leaves auth_time where it was, and max_age still applies to it;
    a password typed for this request before its step-up still counts (prompt=login is met)."""
    p = provider()
    server = p.servers[tenant.id]
    oauth_request = ParamsRequest(f"{p.issuer(tenant)}/authorize", params, datalist)
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=None)
    except UnsupportedResponseTypeError as error:
        # Authlib's own description of this error comes out garbled ("response_type=The response type ...")
        description = "response_type=code is required" if params.get("response_type") \
            else "response_type is missing"
        return _error_response(tenant, params, error.redirect_uri, error.error, description)
    except OAuth2Error as error:
        description = error.get_error_description()
        if description.startswith("Redirect URI "):  # Authlib's text echoes the URI: not on our page
            description = "redirect_uri is not registered for this client"
        redirect_uri = error.redirect_uri or _registered_redirect_uri(tenant, datalist)
        return _error_response(tenant, params, redirect_uri, error.error, description)
    except ValueError:
        # Authlib raises this instead of an error whose description would echo an unknown
        # redirect_uri or response_type holding characters RFC 6749 5.2 bars: an error page
        return _error_response(tenant, params, None, "invalid_request", "")
    redirect_uri = grant.redirect_uri or params.get("redirect_uri")
    if cancelled:  # the user chose to go back to the portal (OIDC Core 3.1.2.6)
        return _error_response(tenant, params, redirect_uri, "access_denied", "The user cancelled the sign-in")
    try:
        _check_extras(params, datalist)
        assurance = _assurance(tenant, params, grant.client.client_id)
        session = p.sessions.load(tenant)
        just_authenticated = bool(session) and authenticated_since is not None \
            and _authenticated_at(session) >= authenticated_since
        facts = _facts(tenant, params, session, just_authenticated, assurance)
        if facts.just_authenticated and hint_unmet(facts):  # Core 3.1.2.1: an error, not another sign-in
            raise RedirectError("login_required", "the user who signed in is not the one the request names")
        needed = evaluate(facts)
        if not needed and assurance.binding and not p.sessions.spend_step_up_binding(tenant, assurance.binding):
            # one TAC, one transaction, spent before its code is issued: another request of this
            # browser spent it first, so this one is asked for a TAC of its own
            needed = evaluate(dataclasses.replace(facts, acr_satisfied=False))
        if needed and "none" in facts.prompt:
            raise RedirectError(needed.error)
        if needed:
            return _start_interaction(tenant, params, needed, facts, assurance, session, authenticated_since)
        subject = _subject(tenant, session, params, assurance, grant.client)
        response = server.create_authorization_response(request=oauth_request, grant_user=subject, grant=grant)
    except RedirectError as error:
        return _error_response(tenant, params, redirect_uri, error.error, error.description)
    location = response.headers["Location"]
    p.sessions.add_client(tenant, session, grant.client.client_id)
    p.audit.record(tenant.id, "authorize.code_issued", subject=session["account_id"],
                   client_id=grant.client.client_id, ip=request.remote_addr)
    query = dict(parse_qsl(urlsplit(location).query))
    return _to_client(tenant, params, redirect_uri, {"code": query["code"], "state": params.get("state")})


# the parameters this endpoint reads; others are ignored (RFC 6749 3.1), repeated or not
RECOGNISED = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "response_mode", "nonce", "prompt", "max_age",
    "id_token_hint", "login_hint", "ui_locales", "claims_locales", "acr_values", "claims", "display",
    "code_challenge", "code_challenge_method", "authorization_details", "request", "request_uri",
})


MAX_PARAM = 4096  # characters of a recognised parameter: a state or nonce is far shorter
MAX_HINT = 8192   # our ID tokens are 1-2 KB
JSON_PARAMS = frozenset({"claims", "authorization_details"})  # at most MAX_JSON_PARAM where they are read


def _check_extras(params, datalist):
    # RFC 6749 3.1: no parameter more than once (Authlib checks the five of RFC 6749 4.1.1);
    # refused rather than guessing which copy the client meant
    repeated = sorted(name for name, values in datalist.items() if len(values) > 1 and name in RECOGNISED)
    if repeated:
        raise RedirectError("invalid_request", f"Repeated parameter: {repeated[0]}")
    # an unauthenticated request must not park large values with its interaction, nor have them
    # put in an ID token (a state over the limit still comes back with the error: RFC 6749 4.1.2.1)
    if too_long := _too_long(params):
        raise RedirectError("invalid_request", too_long)
    if params.get("response_mode", "query") not in ("query", "form_post"):
        raise RedirectError("invalid_request", "response_mode must be query or form_post")
    if "request" in params:
        raise RedirectError("request_not_supported")
    if "request_uri" in params:
        raise RedirectError("request_uri_not_supported")
    prompts = params.get("prompt", "").split()
    if "none" in prompts and len(prompts) > 1:
        raise RedirectError("invalid_request", "prompt=none cannot be combined")


def _too_long(params) -> str | None:
    for name in sorted(RECOGNISED - JSON_PARAMS):
        limit = MAX_HINT if name == "id_token_hint" else MAX_PARAM
        if len(params.get(name) or "") > limit:
            return f"Parameter too long: {name} (at most {limit} characters)"
    return None


def _max_age(params):
    raw = params.get("max_age")
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:  # "²" is a digit to isdigit()
        raise RedirectError("invalid_request", "max_age must be a non-negative integer of at most 10 digits")
    return int(raw)


def claims_request(params) -> dict:
    raw = params.get("claims")
    if not raw:
        return {}
    claims = json_param(raw)
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k, {}), dict) for k in ("userinfo", "id_token")):
        raise RedirectError("invalid_request", "claims must be a JSON object (OIDC Core 5.5)")
    return claims


def _hint_subject(tenant, params):
    hint = params.get("id_token_hint")
    if not hint:
        return None
    endpoint = provider().servers[tenant.id]._endpoints["end_session"][0]
    try:
        return endpoint._validate_id_token_hint(hint).get("sub")
    except OAuth2Error:
        raise RedirectError("invalid_request", "id_token_hint is not a valid ID token of this issuer") from None


def _named_subject(tenant, params) -> str | None:
    """The user the request is for, if it names one: by id_token_hint (Core 3.1.2.1) or by a sub
    value in the claims parameter (Core 5.5.1); a response for anyone else MUST NOT be sent."""
    hinted = _hint_subject(tenant, params)
    sub = claims_request(params).get("id_token", {}).get("sub")
    asked = sub.get("value") if isinstance(sub, dict) else None
    if asked is not None and not isinstance(asked, str):
        raise RedirectError("invalid_request", "claims: the value of sub must be a string")
    if hinted and asked and hinted != asked:
        raise RedirectError("invalid_request", "id_token_hint and the claims parameter name different users")
    return hinted or asked


def _assurance(tenant, params, client_id) -> AssuranceRequest:
    try:
        return assurance_request(tenant, params, claims_request(params), client_id)
    except AssuranceError as error:
        raise RedirectError(error.error, error.description) from None


def _facts(tenant, params, session, just_authenticated, assurance) -> InteractionFacts:
    p = provider()
    account = session and p.accounts.get(tenant.id, session["account_id"])
    return InteractionFacts(
        now=int(time.time()),
        prompt=tuple(params.get("prompt", "").split()),
        max_age=_max_age(params),
        has_session=bool(session),
        session_sub=session and session["account_id"],
        auth_time=session and session["auth_time"],
        account_usable=p.may_continue(tenant, account, session),
        hint_sub=_named_subject(tenant, params),
        just_authenticated=just_authenticated,
        must_change_password=bool(account) and account.must_change_password,
        acr_satisfied=satisfied(tenant, session, assurance),
    )


def _subject(tenant, session, params, assurance, client) -> Subject:
    claims = claims_request(params)
    acr, amr = effective(tenant, session)
    acr = reported_acr(tenant, essential_acr(claims), acr)
    return Subject(account_id=session["account_id"], auth_time=session["auth_time"], acr=acr, amr=amr,
                   sid=session["sid"], userinfo_claims=_releasable(tenant, client, claims.get("userinfo", {})),
                   id_token_claims=_releasable(tenant, client, claims.get("id_token", {})),
                   authorization_details=assurance.details, step_down=step_down(tenant, session))


def _releasable(tenant, client, requested) -> list[str]:
    """The individually requested claims (Core 5.5) that the client's registered scopes carry:
    the claims parameter picks among what the client may see, it does not widen it."""
    registered = scope_to_list(client.client_metadata.get("scope", ""))
    allowed = {claim for scope in registered for claim in tenant.scopes.get(scope, ())}
    return sorted(name for name in requested if name in allowed)


def _start_interaction(tenant, params, needed, facts, assurance, session, request_started_at=None):
    locale = request_locale(tenant, params.get("ui_locales"))
    account_id = facts.session_sub
    step_up = {"acr": assurance.target_acr, "binding": assurance.binding, "auth_time": facts.auth_time,
               "authenticated_at": session and _authenticated_at(session),
               "details": details_lines(tenant, assurance.details, locale)} if assurance.elevated else None
    try:
        return start_interaction(current_app.extensions["flows"], tenant, needed.prompt, params=params,
                                  reasons=needed.reasons, account_id=account_id, locale=locale,
                                  return_to=_resume_path(tenant, "{uid}"), step_up=step_up,
                                  credential=session and session.get("credential"),
                                  request_started_at=request_started_at or time.time())
    except KeyError:
        raise RedirectError("interaction_required", f"{needed.prompt} is not available") from None


def _authenticated_at(session) -> float:
    """When the session's user last entered their password, to the fraction of a second (a
    session from before it was kept: its whole-second auth_time, which counts as earlier)."""
    return session.get("authenticated_at", session["auth_time"])


def _resume_path(tenant, uid: str) -> str:
    # the flow adds its language when it comes back here (flows.views.return_url)
    return f"/t/{tenant.id}/authorize/resume/{uid}"


def _registered_redirect_uri(tenant, datalist) -> str | None:
    """For an error Authlib found before it checked the client (a repeated scope, say): the
    redirect URI, when client_id and redirect_uri are each given once and match a registration,
    so the error goes back to the client as RFC 6749 4.1.2.1 asks."""
    client_ids, redirect_uris = datalist.get("client_id", []), datalist.get("redirect_uri", [])
    if len(client_ids) != 1 or len(redirect_uris) != 1:
        return None
    client = provider().clients.find(tenant.id, client_ids[0])
    return redirect_uris[0] if client and client.check_redirect_uri(redirect_uris[0]) else None


def _error_response(tenant, params, redirect_uri, error, description):
    # RFC 6749 4.1.2.1: error_description is printable ASCII without " and \; descriptions that
    # quote the request (a field name in authorization_details, say) may hold anything
    description = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in description or "")
    if not redirect_uri:
        # unknown client or unregistered redirect URI: never redirect (RFC 6749 4.1.2.1)
        return page(tenant, "error.title", "error.text", 400, error=error, description=description)
    return _to_client(tenant, params, redirect_uri, {"error": error, "error_description": description,
                                                     "state": params.get("state")})


def _to_client(tenant, params, redirect_uri, values):
    values = {k: v for k, v in values.items() if v}
    values["iss"] = provider().issuer(tenant)  # RFC 9207 mix-up defence
    if params.get("response_mode") == "form_post":
        locale = request_locale(tenant, params.get("ui_locales"))
        t = page_text(tenant, locale)
        html = render_template("form_post.html", action=redirect_uri, values=values, t=t, tenant=tenant,
                               locale=locale, title=t("form_post.title"))
        response = make_response(html)
        response.headers["Cache-Control"] = "no-store"
        return response
    # RFC 6749 3.1.2: the registered URI's own query is retained as it is (re-parsing it would
    # drop its empty values and bare names)
    parts = urlsplit(redirect_uri)
    query = "&".join(filter(None, [parts.query, urlencode(values)]))
    return redirect(urlunsplit(parts._replace(query=query)), code=303 if request.method == "POST" else 302)


