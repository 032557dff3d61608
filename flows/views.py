"""The interaction pages: render the current stage, take its form, move the plan on.

An interaction is bound to the browser that started it (a cookie carrying an HMAC of its id,
compared in constant time), and every form carries a CSRF token bound to the interaction.
"""
import logging
import secrets
import time
from urllib.parse import quote

from flask import Blueprint, abort, current_app, g, redirect, render_template, request

from . import executor
from .csrf import csrf_token, csrf_valid, holding, holds_interaction, releasing
from .i18n import negotiate, page_text, translate
from .executor import INTERACTION, INTERACTION_COOKIE
from .stage import StageContext, plan_for

log = logging.getLogger(__name__)
bp = Blueprint("flows", __name__, template_folder="templates", url_prefix="/t/<tenant_id>")
# seconds a second submission of one plan waits for the first (a worker's only thread waits with
# it, so briefly: a double click's first request is done well within it); a claim left by a crash
# lapses after SUBMIT_HOLD
SUBMIT_WAIT, SUBMIT_HOLD = 1.0, 30
# flows a user may start on their own, from the links on the sign-in page
SELF_SERVICE = {"activation", "forgot_password", "forgot_username"}
# flows for a signed-in user (their SSO session says who)
SIGNED_IN = {"password_update", "sessions", "totp_enrol", "totp_remove", "phone_change"}


def start(services, tenant, flow: str, *, params=None, return_to=None, account_id=None, reasons=(),
          locale=None, **extra):
    """Start an interaction: the JSON plan in the ephemeral store, bound to this browser by a
    cookie (the authorization endpoint and the self-service pages both start them here)."""
    plan_for(flow, tenant)  # KeyError for an unknown flow, before anything is stored
    uid = secrets.token_urlsafe(24)
    ttl = tenant.tokens.interaction_lifetime.total_seconds()
    params = params or {}
    interaction = {
        "uid": uid, "tenant": tenant.id, "flow": flow, "reasons": list(reasons), "params": params,
        "stage": 0, "result": {}, "state": {}, "account_id": account_id, "return_to": return_to,
        "locale": locale or request_locale(tenant, params.get("ui_locales") or request.args.get("ui_locales")),
        "expires_at": time.time() + ttl, **extra,
    }
    if return_to:
        interaction["return_to"] = return_to.format(uid=uid)
    services.store.put(INTERACTION, uid, interaction, ttl)
    response = redirect(interaction_url(tenant, uid, interaction["locale"]),
                        code=303 if request.method == "POST" else 302)
    bind_interaction(services, tenant, response, uid)
    return response


def request_locale(tenant, ui_locales: str | None = None) -> str:
    """This request's language: ui_locales (the portal's, or a language link's), else the one of
    the tenant's the browser prefers (Accept-Language), else the tenant's default."""
    return negotiate(tenant, ui_locales, request.accept_languages.best_match(tenant.locales))


def interaction_url(tenant, uid, locale):
    """The interaction's page. Its language rides along in the query, where the forms (posted to
    their own URL) keep it: a page the interaction itself cannot render (its store is down, the
    form is too large) is still in the user's language."""
    return f"/t/{tenant.id}/interaction/{uid}?ui_locales={locale}"


def return_url(interaction) -> str:
    """Where a finished or cancelled flow goes back to, in the flow's language as it is now (a
    page the authorization endpoint renders before it reads the interaction, a 503, is in it)."""
    return f"{interaction['return_to']}?ui_locales={interaction['locale']}"


def bind_interaction(services, tenant, response, uid, release=None):
    """Bind the interaction `uid` to this browser, beside the few others it holds (csrf.MAX_HELD),
    for the interaction's lifetime; `release` (a finished or cancelled one) is let go."""
    _hold(services, tenant, response, holding(services.secret, uid, _held_but(services, release)))


def release_interaction(services, tenant, response, uid):
    """A finished interaction's binding spent; the browser's other sign-ins keep theirs."""
    rest = _held_but(services, uid)
    if rest:
        _hold(services, tenant, response, rest)
    else:
        response.delete_cookie(INTERACTION_COOKIE, path=f"/t/{tenant.id}")


def spend_interaction(uid):
    """This request ends interaction `uid` (a resumed authorization request): a flow it starts
    next binds itself without it."""
    g.spent_interaction = uid


def _held_but(services, *spent) -> str:
    cookie = request.cookies.get(INTERACTION_COOKIE)
    for uid in {*spent, g.get("spent_interaction")} - {None}:
        cookie = releasing(services.secret, uid, cookie)
    return cookie


def _hold(services, tenant, response, value):
    response.set_cookie(INTERACTION_COOKIE, value, path=f"/t/{tenant.id}", secure=services.secure_cookies(),
                        httponly=True, samesite="Lax", max_age=int(tenant.tokens.interaction_lifetime.total_seconds()))


def services():
    return current_app.extensions["flows"]


def _load(tenant_id, uid):
    svc = services()
    tenant = svc.tenants.get(tenant_id)
    if tenant is None:
        abort(404)
    interaction = svc.store.get(INTERACTION, uid) if len(uid) <= 64 else None
    cookie = request.cookies.get(INTERACTION_COOKIE, "")
    if not interaction or interaction["tenant"] != tenant_id or not holds_interaction(svc.secret, uid, cookie):
        return tenant, None
    g.client_id = (interaction.get("params") or {}).get("client_id")  # the portal this is for: on the trail
    return tenant, interaction


def _context(tenant, interaction):
    return StageContext(tenant=tenant, interaction=interaction, services=services(),
                        ip=request.remote_addr, locale=interaction["locale"])


def _render(ctx, stage, invalid=None, status=200):
    svc = services()
    values = {**stage.challenge(ctx), **(invalid.values if invalid else {})}
    if invalid and not invalid.error:
        values["notice"] = invalid.message
    t = page_text(ctx.tenant, ctx.locale)
    return render_template(
        stage.template, t=t, tenant=ctx.tenant, locale=ctx.locale, values=values,
        message=invalid and invalid.error and t(invalid.message),
        client_name=svc.client_name(ctx.tenant.id, ctx.interaction["params"].get("client_id", "")),
        csrf_token=csrf_token(svc.secret, ctx.interaction["uid"]), uid=ctx.interaction["uid"],
        stage_index=ctx.interaction.get("stage", 0),
        self_service=_links(ctx), cancel=_way_back(ctx), languages=_languages(ctx),
    ), status


def _languages(ctx):
    """Links to this page in the tenant's other languages, each named in itself ("English",
    "Bahasa Melayu"): a portal that passed no ui_locales leaves its users in the tenant's
    default. Relative to the page's own URL, the interaction's (_show switches)."""
    return [(f"?ui_locales={locale}", locale, translate(locale, "language.name"))
            for locale in ctx.tenant.locales if locale != ctx.locale]


def _way_back(ctx) -> tuple[str, str] | None:
    """The link that leaves this flow, and its label: inside an authorization request, back to
    the portal (which gets access_denied); in a flow opened from a sign-in, back to that sign-in."""
    uid, interaction = ctx.interaction["uid"], ctx.interaction
    if interaction.get("params", {}).get("client_id") and interaction.get("return_to"):
        label = "link.cancel"
    elif interaction.get("back"):
        label = "link.back_to_sign_in"
    else:
        return None
    token = csrf_token(services().secret, _cancelling(uid))
    return f"/t/{ctx.tenant.id}/interaction/{uid}/cancel?csrf_token={token}", label


def _cancelling(uid):
    return f"cancel:{uid}"  # a token of its own: a form's token cannot cancel


def _links(ctx):
    """The "forgot password / user ID / activate" links shown under the sign-in form."""
    links = ["forgot_password", "forgot_username"] if ctx.tenant.accounts.user_id_recovery else ["forgot_password"]
    if any(a.channel == "activation_code" for a in ctx.tenant.activation.values()):
        links.append("activation")
    # in the sign-in's language: the flow they open starts in it
    return [(f"/t/{ctx.tenant.id}/account/{name}?from={ctx.interaction['uid']}&ui_locales={ctx.locale}", f"link.{name}")
            for name in links]


def _message(tenant, title_key, text_key, status, locale=None, back_url=None, back_label=None):
    locale = locale or request_locale(tenant, request.args.get("ui_locales"))
    t = page_text(tenant, locale)
    return render_template("message.html", t=t, tenant=tenant, locale=locale, title=t(title_key),
                           text=t(text_key), back_url=back_url, back_label=back_label,
                           languages=error_languages(tenant, locale, status)), status


def error_languages(tenant, locale, status):
    """For a page that refuses a GET (an error, "please sign in"): links to the same request in
    the tenant's other languages, which refuses it alike. Not for an answer to a POST, nor for a
    page that did something: asking again would not say the same; nor where the request carries
    more than its language (a refused authorization request): the page must not echo it."""
    if status < 400 or request.method != "GET" or any(name != "ui_locales" for name in request.args):
        return []
    return [(f"{quote(request.path)}?ui_locales={other}", other, translate(other, "language.name"))
            for other in tenant.locales if other != locale]


def _link_expired(tenant):
    # the link's own words: a user who followed one has no sign-in session to speak of
    return _message(tenant, "reset_link.expired.title", "reset_link.expired.text", 400,
                    back_url=f"/t/{tenant.id}/account/forgot_password", back_label="link.forgot_password")


def expired_page(tenant, locale=None):
    return _message(tenant, "interaction.expired.title", "interaction.expired.text", 400, locale)


@bp.get("/account/<flow_name>")
def self_service(tenant_id, flow_name):
    svc = services()
    tenant = svc.tenants.get(tenant_id)
    if tenant is None or flow_name not in SELF_SERVICE | SIGNED_IN:
        abort(404)
    if flow_name in SIGNED_IN:
        return _signed_in_flow(svc, tenant, flow_name)
    if flow_name == "activation" and not any(a.channel == "activation_code" for a in tenant.activation.values()) \
            or flow_name == "forgot_username" and not tenant.accounts.user_id_recovery:
        abort(404)
    # the sign-in this flow was opened from, if this browser holds it: the finished flow's page
    # links back to it and gives the browser its binding again (one interaction cookie at a time)
    back = request.args.get("from", "")[:64]
    held = bool(back) and holds_interaction(svc.secret, back, request.cookies.get(INTERACTION_COOKIE))
    return start(svc, tenant, flow_name, back=back if held else "")


def _signed_in_flow(svc, tenant, flow_name):
    account_id = svc.session_account(tenant)
    if account_id is None:
        return _message(tenant, "signin_required.title", "signin_required.text", 401)
    if flow_name == "phone_change" and not svc.accounts.may_change_phone(tenant, account_id):
        return _message(tenant, "phone.not_online.title", "phone.not_online", 403)
    if flow_name == "phone_change" and not svc.accounts.has_phone(tenant, account_id):
        # said before the password is asked: a first number needs a proof the password is not
        # (it would give whoever holds the password the TAC's assurance), so it is a counter's job
        return _message(tenant, "phone.not_online.title", "phone.first_in_person", 403)
    if flow_name == "totp_remove" and not svc.accounts.has_totp(tenant, account_id):
        abort(404)
    return start(svc, tenant, flow_name, account_id=account_id)


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
def reset_link(tenant_id, token):
    svc = services()
    tenant = svc.tenants.get(tenant_id)
    if tenant is None:
        abort(404)
    binding = f"reset:{tenant.id}:{token}"
    if request.method == "GET" or not csrf_valid(svc.secret, binding, request.form.get("csrf_token")):
        # opening the link only asks: mail scanners that follow links must not spend it
        if not svc.accounts.reset_link_live(tenant, token):
            return _link_expired(tenant)
        locale = request_locale(tenant, request.args.get("ui_locales"))
        t = page_text(tenant, locale)
        return render_template("reset_link.html", t=t, tenant=tenant, locale=locale,
                               csrf_token=csrf_token(svc.secret, binding)), 200
    account_id = svc.accounts.redeem_reset_link(tenant, token, request.remote_addr)
    if account_id is None:
        return _link_expired(tenant)
    return start(svc, tenant, "password_reset", account_id=account_id, via_link=True)


@bp.get("/interaction/<uid>")
def show(tenant_id, uid):
    return _one_at_a_time(tenant_id, uid, _show)


@bp.post("/interaction/<uid>")
def submit(tenant_id, uid):
    return _one_at_a_time(tenant_id, uid, _submit)


@bp.get("/interaction/<uid>/cancel")
def cancel(tenant_id, uid):
    return _one_at_a_time(tenant_id, uid, _cancel)


def _one_at_a_time(tenant_id, uid, handle):
    """Run `handle` on the plan while no other request of it runs: a double click must not run a
    stage twice side by side (two password changes; a right TAC refused as its own second use,
    whose save then undid the first one's finish), nor a reload send a first TAC beside a
    submission, then save an older plan over it. The second waits, then finds the plan as the
    first left it."""
    tenant, interaction = _load(tenant_id, uid)
    if interaction is None:
        return expired_page(tenant)
    if interaction.get("cancelled") or (interaction.get("done") and not interaction.get("return_to")):
        # over: a self-service flow's end is not run twice (a reload, a cookie kept from before)
        return expired_page(tenant, interaction["locale"])
    svc = services()
    if interaction["flow"] in SIGNED_IN and svc.session_account(tenant) != interaction["account_id"]:
        # the sign-in it was opened under has ended (signed out, timed out, another user since):
        # its password and TAC were for that session, not for whoever has the browser now (ASVS 7.4.1)
        return _message(tenant, "signin_required.title", "signin_required.text", 401, interaction["locale"])
    busy = f"interaction_busy:{uid}"
    if not _claim(svc.store, busy):
        # the page would run the stage's challenge (it may send a code): not beside the other
        return _message(tenant, "form.busy.title", "form.busy", 409, interaction["locale"],
                        back_url=interaction_url(tenant, uid, interaction["locale"]), back_label="link.continue")
    try:
        return handle(svc, *_load(tenant_id, uid), uid)  # as the other request left it
    finally:
        try:
            svc.store.delete("counter", busy)
        except Exception:  # noqa: BLE001 - the answer stands; the claim lapses after SUBMIT_HOLD
            log.exception("releasing %s", busy)


def _claim(store, key) -> bool:
    deadline, pause = time.monotonic() + SUBMIT_WAIT, 0.01
    while store.incr(key, ttl=SUBMIT_HOLD) != 1:
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return True


def _show(svc, tenant, interaction, uid):
    if interaction is None:
        return expired_page(tenant)
    chosen = request.args.get("ui_locales")
    if chosen in tenant.locales and chosen != interaction["locale"]:
        # a language picked on the page (_languages): the rest of the flow follows it, and so do
        # the authorization request's own pages after it (its ui_locales was only a preference)
        interaction["locale"] = interaction["params"]["ui_locales"] = chosen
        svc.save_interaction(interaction)
    ctx = _context(tenant, interaction)
    stage = executor.current_stage(ctx)
    if stage is None:
        return svc.finish(tenant, interaction, interaction.get("result", {}))
    return _render(ctx, stage)


def _cancel(svc, tenant, interaction, uid):
    if interaction is None or interaction.get("done"):
        return expired_page(tenant)
    ctx = _context(tenant, interaction)
    if not _way_back(ctx) or not csrf_valid(svc.secret, _cancelling(uid), request.args.get("csrf_token")):
        return expired_page(tenant, interaction["locale"])
    interaction["cancelled"] = interaction["done"] = True
    svc.save_interaction(interaction)
    svc.audit.record(tenant.id, "interaction.cancelled", subject=interaction.get("account_id"), ip=request.remote_addr,
                     client_id=interaction["params"].get("client_id"), flow=interaction["flow"])
    if interaction.get("return_to"):
        return redirect(return_url(interaction), code=302)  # the request ends in access_denied
    back = interaction["back"]  # the sign-in this browser held when it opened the flow
    response = redirect(interaction_url(tenant, back, interaction["locale"]), code=302)
    bind_interaction(svc, tenant, response, back, release=uid)
    return response


def _submit(svc, tenant, interaction, uid):
    if interaction is None:
        return expired_page(tenant)
    ctx = _context(tenant, interaction)
    stage = executor.current_stage(ctx)
    if stage is None:
        return svc.finish(tenant, interaction, interaction.get("result", {}))
    if not csrf_valid(svc.secret, uid, request.form.get("csrf_token")):
        return _render(ctx, stage, invalid=executor.Invalid("csrf.invalid"), status=400)
    if request.form.get("stage", str(ctx.interaction["stage"])) != str(ctx.interaction["stage"]):
        # a form of a step already passed (a double click, the back button): where the plan is now
        return _render(ctx, stage, invalid=executor.Invalid("form.moved_on"))
    step = executor.submit(ctx, request.form)
    if step.kind == "done":
        return svc.finish(tenant, interaction, interaction["result"])  # saves the plan, marked done
    svc.save_interaction(interaction)
    stage = executor.current_stage(ctx)
    return _render(ctx, stage, invalid=step.invalid, status=400 if step.invalid and step.invalid.error else 200)
