"""Machine endpoints: discovery, JWKS, token, UserInfo, introspection, revocation."""
import json
from functools import lru_cache

from flask import Blueprint, Response, request

from ..oauth.discovery import metadata
from ..oauth.tokens import validate_access_token
from . import provider, tenant_or_404

bp = Blueprint("protocol", __name__, url_prefix="/t/<tenant_id>")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@lru_cache(maxsize=64)
def _discovery_bytes(tenant_id: str, issuer: str) -> bytes:
    return json.dumps(metadata(provider().tenants[tenant_id], issuer)).encode()


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery(tenant_id):
    tenant = tenant_or_404(tenant_id)
    body = _discovery_bytes(tenant.id, provider().issuer(tenant))
    return Response(body, mimetype="application/json", headers={"Cache-Control": "public, max-age=300"})


@bp.get("/jwks")
def jwks(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return Response(provider().keys.get(tenant.id).jwks_json, mimetype="application/jwk-set+json",
                    headers={"Cache-Control": "public, max-age=60"})


def _no_store(response):
    response.headers.update(NO_STORE)
    return response


@bp.post("/token")
def token(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return _no_store(provider().servers[tenant.id].create_token_response())


@bp.post("/token/introspect")
def introspect(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return _no_store(provider().servers[tenant.id].create_endpoint_response("introspection"))


@bp.post("/token/revoke")
def revoke(tenant_id):
    tenant = tenant_or_404(tenant_id)
    return _no_store(provider().servers[tenant.id].create_endpoint_response("revocation"))


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo(tenant_id):
    """OIDC Core 5.3; the token by header (RFC 6750 2.1) or, for POST, in the body (2.2)."""
    tenant = tenant_or_404(tenant_id)
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if token is None and request.method == "POST":
        token = request.form.get("access_token")
    claims = validate_access_token(provider(), tenant, token) if token else None
    if claims is None or "openid" not in (claims.get("scope") or "").split() or claims["sub"] == claims["client_id"]:
        error = 'Bearer error="invalid_token"' if token else 'Bearer realm="userinfo"'
        body = {"error": "invalid_token"} if token else {"error": "invalid_request"}
        return _no_store(Response(json.dumps(body), status=401, mimetype="application/json",
                                  headers={"WWW-Authenticate": error}))
    info = provider().user_claims(tenant, claims["sub"], claims["scope"], claims.get("userinfo_claims", ()))
    return _no_store(Response(json.dumps(info), mimetype="application/json"))
