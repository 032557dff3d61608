"""Machine endpoints: discovery, JWKS, token, UserInfo, introspection, revocation."""
import json
from functools import lru_cache

from flask import Blueprint, Response, request

from keys import JWKS_MAX_AGE
from ..oauth.discovery import metadata
from ..oauth.grant import access_holds
from ..oauth.tokens import validate_access_token
from . import provider, tenant_or_404

bp = Blueprint("protocol", __name__, url_prefix="/t/<tenant_id>")
# RFC 8414 3.1: for an issuer with a path, the metadata URL puts the well-known part before it
# (OIDC Discovery appends it; both are served)
rfc8414 = Blueprint("rfc8414", __name__, url_prefix="/.well-known/oauth-authorization-server/t/<tenant_id>")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@lru_cache(maxsize=64)
def _discovery_bytes(tenant_id: str, issuer: str) -> bytes:
    return json.dumps(metadata(provider().tenants[tenant_id], issuer)).encode()


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
@rfc8414.get("")
def discovery(tenant_id):
    tenant = tenant_or_404(tenant_id)
    body = _discovery_bytes(tenant.id, provider().issuer(tenant))
    return Response(body, mimetype="application/json", headers={"Cache-Control": "public, max-age=300"})


@bp.get("/jwks")
def jwks(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return Response(provider().keys.get(tenant.id).jwks_json, mimetype="application/jwk-set+json",
                    headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


class WellKnownCache:
    """WSGI middleware in front of Flask for the two hottest reads, discovery and JWKS.

    The first GET of each document goes through Flask as usual; a 200 response (status, headers
    and body, exactly as Flask and its after_request hooks made them) is kept and replayed to later
    GETs without building a request context. A JWKS entry is replayed only while the worker's key
    cache holds the same key set, so a rotation is served as soon as the key cache picks it up.
    Anything else (other methods, unknown tenants, errors) goes to Flask.
    """

    def __init__(self, wsgi_app, provider):
        self.wsgi_app, self.provider = wsgi_app, provider
        self._routes = {}
        for tenant_id in provider.tenants:
            for path in (f"/t/{tenant_id}/.well-known/openid-configuration",
                         f"/t/{tenant_id}/.well-known/oauth-authorization-server",
                         f"/.well-known/oauth-authorization-server/t/{tenant_id}"):
                self._routes[path] = (tenant_id, False)
            self._routes[f"/t/{tenant_id}/jwks"] = (tenant_id, True)
        self._cache = {}  # path -> (key set or None, status, headers, body)

    def __call__(self, environ, start_response):
        route = self._routes.get(environ.get("PATH_INFO")) if environ.get("REQUEST_METHOD") == "GET" else None
        if route is None:
            return self.wsgi_app(environ, start_response)
        path = environ["PATH_INFO"]
        try:
            version = self.provider.keys.get(route[0]) if route[1] else None
        except Exception:  # noqa: BLE001 - the store is down: Flask's error handlers answer
            return self.wsgi_app(environ, start_response)
        hit = self._cache.get(path)
        if hit is not None and hit[0] is version:
            start_response(hit[1], list(hit[2]))
            return [hit[3]]
        captured = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, list(headers)]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if captured and captured[0].startswith("200 "):
            self._cache[path] = (version, captured[0], captured[1], body)
        return [body]


def _no_store(response):
    response.headers.update(NO_STORE)
    return response


# token, introspection, revocation: answered by TenantServer.handle_response, with no-store
@bp.post("/token")
def token(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return provider().servers[tenant.id].create_token_response()


@bp.post("/token/introspect")
def introspect(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return provider().servers[tenant.id].create_endpoint_response("introspection")


@bp.post("/token/revoke")
def revoke(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return provider().servers[tenant.id].create_endpoint_response("revocation")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo(tenant_id):
    """OIDC Core 5.3; the token by header (RFC 6750 2.1) or, for POST, in the body (2.2)."""
    tenant = tenant_or_404(tenant_id)
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    # RFC 6750 2.2: a token in the body only in an application/x-www-form-urlencoded one
    urlencoded = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded"
    in_body = request.form.get("access_token") if urlencoded else None
    if "access_token" in request.args or (token and in_body):
        # RFC 6750 2.3 (a token in the URL, which leaks into logs) is not supported, and 3.1:
        # more than one way at once is invalid_request
        return _bearer_error(400, "invalid_request")
    token = token or in_body
    claims = validate_access_token(provider(), tenant, token) if token else None
    if claims is None or claims["sub"] == claims["client_id"] \
            or not access_holds(provider(), tenant, claims):  # as a refresh would be refused
        # RFC 6750 3.1: a request with no token at all gets the challenge and no error code
        return _bearer_error(401, "invalid_token" if token else None)
    if "openid" not in (claims.get("scope") or "").split():
        return _bearer_error(403, "insufficient_scope", 'scope="openid"')  # RFC 6750 3.1: a good token, not for this
    info = provider().user_claims(tenant, claims["sub"], claims["scope"], claims.get("userinfo_claims", ()))
    return _no_store(Response(json.dumps(info), mimetype="application/json"))


def _bearer_error(status: int, error: str | None, *extra: str) -> Response:
    challenge = f'Bearer error="{error}"' if error else 'Bearer realm="userinfo"'
    headers = {"WWW-Authenticate": ", ".join([challenge, *extra])}
    return _no_store(Response(json.dumps({"error": error} if error else {}), status=status,
                              mimetype="application/json", headers=headers))
