"""HTTP surfaces, one blueprint each: protocol endpoints, authorization, logout."""
from flask import abort, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from flows.i18n import page_text
from flows.views import error_languages, request_locale


def provider():
    return current_app.extensions["idp"]


def tenant_or_404(tenant_id: str):
    tenant = provider().tenants.get(tenant_id)
    if tenant is None:
        abort(404)
    return tenant


def page(tenant, title_key, text_key, status, locale=None, **extra):
    """A plain page in the user's language (errors, logout)."""
    locale = locale or request_locale(tenant, _ui_locales())
    t = page_text(tenant, locale)
    extra.setdefault("languages", error_languages(tenant, locale, status))
    return render_template(extra.pop("template", "message.html"), t=t, tenant=tenant, locale=locale,
                           title=t(title_key), text=t(text_key), **extra), status


def _ui_locales():
    """ui_locales from the query or form; an unreadable body (too large, malformed) is ignored,
    since this also renders the page that reports such a body."""
    try:
        return request.values.get("ui_locales")
    except HTTPException:
        return request.args.get("ui_locales")
