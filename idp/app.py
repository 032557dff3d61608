"""The application factory (Flask's `create_app(test_config=None)`)."""
import logging
import re
import secrets

import redis
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import Flask, abort, g, jsonify, request
from flask.sessions import SessionInterface
from sqlalchemy.exc import InternalError, OperationalError, TimeoutError as SqlTimeout
from werkzeug.exceptions import HTTPException

from flows import views as flow_views
from flows.executor import INTERACTION
from flows.i18n import translate
from flows.services import FlowServices
from policies.account_state import HOLDING_STATES
from tenants.model import Tenant
from .config import load_settings
from .provider import Provider
from .self_service import SelfService
from .views import authorize, finish, health, logout, page, protocol

log = logging.getLogger(__name__)
# Authlib logs every token it issues, and the client it issues it to, at DEBUG: kept out of the
# logs whatever level a deployment sets (ASVS 16.2.5)
logging.getLogger("authlib").setLevel(logging.INFO)
NOT_ASCII = re.compile(r"[^\x00-\x7f]+")
PROTOCOL_PATH = re.compile(r"/t/[^/]+/(token|token/introspect|token/revoke|userinfo|jwks|\.well-known/.*)\Z")
STORE_DOWN = (OperationalError, SqlTimeout, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              redis.exceptions.ReadOnlyError, redis.exceptions.OutOfMemoryError, redis.exceptions.ClusterDownError,
              redis.exceptions.TryAgainError)
READ_ONLY = "25006"  # PostgreSQL's read_only_sql_transaction: a standby, as after a failover
# Redis replies that it cannot serve now, which redis-py raises as a plain ResponseError: writes
# refused (a failed snapshot; too few replicas, as beside Sentinel), a script running too long
REDIS_REFUSALS = ("MISCONF ", "NOREPLICAS ", "BUSY ")


def store_refused(error) -> bool:
    """Whether `error` means a store cannot serve now (fail closed: 503), not a fault of ours."""
    if isinstance(error, STORE_DOWN):
        return True
    if isinstance(error, redis.exceptions.ResponseError):
        return str(error).startswith(REDIS_REFUSALS)
    return isinstance(error, InternalError) and getattr(error.orig, "sqlstate", None) == READ_ONLY


def create_app(test_config: dict | None = None) -> Flask:
    settings = load_settings(test_config)
    app = Flask(__name__)
    app.config.update(settings, MAX_CONTENT_LENGTH=64 * 1024)
    # the provider keeps its own sessions (idp/sessions.py); Flask's cookie session stays unused
    app.session_interface = _NoFlaskSession()
    provider = Provider(settings)
    app.extensions["idp"] = provider
    app.extensions["flows"] = FlowServices(
        tenants=provider.tenants, store=provider.store, accounts=SelfService(provider), audit=provider.audit,
        secret=provider.master, finish=finish.finish, client_name=_client_name(provider),
        secure_cookies=lambda: provider.sessions.secure,
        session_account=_settled_account(provider),
    )
    for blueprint in (protocol.bp, protocol.rfc8414, authorize.bp, logout.bp, flow_views.bp, health.bp):
        app.register_blueprint(blueprint)
    app.jinja_env.globals["csp_nonce"] = lambda: g.setdefault("csp_nonce", secrets.token_urlsafe(16))
    app.wsgi_app = _EncodedQuery(app.wsgi_app)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    _error_handlers(app)
    return app


class _NoFlaskSession(SessionInterface):
    def open_session(self, app, request):
        return None  # Flask falls back to a NullSession that refuses writes

    def save_session(self, app, session, response):
        pass


def _settled_account(provider):
    """The session's account for the signed-in flows (authenticator, phone number), once its
    sign-in is complete: active (or locked by others' wrong passwords: the password stages then
    refuse), with no password change pending. A temporary password alone does not reach them."""
    def account_id(tenant):
        session = provider.sessions.load(tenant)
        account = session and provider.accounts.get(tenant.id, session["account_id"])
        return account.id if account and account.state in HOLDING_STATES and not account.must_change_password \
            else None
    return account_id


def _client_name(provider):
    def name(tenant_id, client_id):
        client = provider.clients.find(tenant_id, client_id) if client_id else None
        return client and (client.client_metadata.get("client_name") or client.client_id)
    return name


class _EncodedQuery:
    """Some servers (Werkzeug's, gunicorn) pass the raw bytes of a query string on as they came,
    and Werkzeug fails reading any that are not UTF-8, even for the error page. Percent-encoded,
    as a browser sends them, they read as any other malformed value does (U+FFFD)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        query = environ.get("QUERY_STRING", "")
        if not query.isascii():  # PEP 3333: bytes as latin-1 characters
            environ["QUERY_STRING"] = NOT_ASCII.sub(
                lambda m: "".join(f"%{b:02X}" for b in m.group().encode("latin-1", "replace")), query)
        return self.wsgi_app(environ, start_response)


def _refuse_nul():
    """NUL belongs in no identifier, code or form field, and PostgreSQL refuses it in text: let
    in, it would end as a 500 deep in a look-up. Refused at the door, as any bad request."""
    raw = request.query_string + request.get_data()
    if "\x00" in request.path or b"%00" in raw or b"\x00" in raw or b"\\u0000" in raw \
            or any("\x00" in value for value in request.cookies.values()):
        abort(400)


def _security_headers(response):
    headers = response.headers
    # the names read once: Headers.setdefault and `in` each raise and catch a KeyError (an HTTP
    # exception object) for every header that is missing, on every response
    present = {name.lower() for name, _ in headers.items()}
    if "x-content-type-options" not in present:
        headers.add("X-Content-Type-Options", "nosniff")
    if "referrer-policy" not in present:
        headers.add("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        nonce = g.get("csp_nonce") or secrets.token_urlsafe(16)
        headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'")
        headers["X-Frame-Options"] = "DENY"
        if "cache-control" not in present:
            headers.add("Cache-Control", "no-store")
    return response


def _error_handlers(app):
    # a page outside any tenant (an unknown tenant's path) wears no portal's name or colours
    no_tenant = Tenant(id="", display_name={loc: translate(loc, "service.name") for loc in ("ms", "en")},
                       locales=("ms", "en"), identity_types=(), activation={})

    def tenant_for_page():
        provider = app.extensions["idp"]
        tenant_id = (request.view_args or {}).get("tenant_id") or request.path.split("/")[2:3]
        tenant_id = tenant_id if isinstance(tenant_id, str) else (tenant_id[0] if tenant_id else "")
        return provider.tenants.get(tenant_id) or no_tenant

    def interaction_locale():
        """On an interaction's page (a form too large, say), that interaction's language: its
        URL carries no ui_locales."""
        uid = (request.view_args or {}).get("uid")
        if not isinstance(uid, str) or len(uid) > 64:
            return None
        try:
            interaction = app.extensions["idp"].store.get(INTERACTION, uid)
        except (*STORE_DOWN, redis.exceptions.ResponseError) as error:
            if not store_refused(error):
                raise
            return None
        return interaction.get("locale") if interaction else None

    def wants_json():
        # the protocol endpoints a program calls; every other path is a page a person sees
        return bool(PROTOCOL_PATH.match(request.path)) or request.path.startswith(("/.well-known/", "/health/"))

    @app.errorhandler(HTTPException)
    def http_error(error):
        if wants_json():  # a fault of ours is not the client's bad request (RFC 6749 4.1.2.1)
            code = "server_error" if error.code >= 500 else "invalid_request"
            return jsonify(error=code, error_description=error.description), error.code
        key = {404: "notfound", 413: "toolarge"}.get(error.code, "error")
        return page(tenant_for_page(), f"{key}.title", f"{key}.text", error.code, locale=interaction_locale())

    def store_down(error):
        # fail closed: no token, code or session on partial state (DESIGN.md "Failure stance")
        log.error("store unavailable: %s", error)
        if wants_json():
            return jsonify(error="temporarily_unavailable"), 503
        return page(tenant_for_page(), "unavailable.title", "unavailable.text", 503)

    for exc in STORE_DOWN:
        app.register_error_handler(exc, store_down)

    @app.errorhandler(InternalError)
    @app.errorhandler(redis.exceptions.ResponseError)
    def refused(error):
        if store_refused(error):  # it cannot be served now (a standby; Redis refusing writes): try again
            return store_down(error)
        raise error

    @app.errorhandler(InsecureTransportError)
    def insecure_transport(error):
        # plain http reached a non-loopback issuer: a TLS proxy without IDP_PROXY_HOPS, or a
        # client bypassing TLS; refuse like any other bad request
        log.warning("OAuth request over plain http to %s", request.path)
        if wants_json():
            return jsonify(error="invalid_request", error_description="OAuth 2 requires https"), 400
        return page(tenant_for_page(), "error.title", "error.text", 400)
