"""Token introspection (RFC 7662) and revocation (RFC 7009), for JWT and opaque access tokens
and for refresh tokens. Introspection takes confidential clients of the same tenant: each learns
about its own tokens, and one registered as a resource server about any access token."""
import time

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection
from flask import request as http_request

from .grant import access_holds, account_holds_grants, session_holds_grant
from .subject import store_key
from .tokens import ACCESS, REFRESH, REVOKED_JTI, validate_access_token

CONFIDENTIAL = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class TokenRecord:
    def __init__(self, kind: str, raw: str, claims: dict):
        self.kind, self.raw, self.claims = kind, raw, claims

    def is_expired(self):
        exp = self.claims.get("exp")
        return exp is not None and exp <= time.time()

    def is_revoked(self):
        return False  # lookups already refuse revoked tokens

    def get_client_id(self):
        return self.claims["client_id"]

    def check_client(self, client):
        return self.claims.get("client_id") == client.client_id


class _TokenLookup:
    def __init__(self, server):
        super().__init__(server)
        self.provider, self.tenant = server.provider, server.tenant

    def query_token(self, token_string, token_type_hint):
        kinds = ["access_token", "refresh_token"]
        if token_type_hint == "refresh_token":
            kinds.reverse()
        for kind in kinds:
            record = self._find(kind, token_string)
            if record:
                return record
        return None

    def _find(self, kind, raw):
        if kind == "access_token":
            claims = validate_access_token(self.provider, self.tenant, raw)
            return claims and TokenRecord(kind, raw, claims)
        payload = self.provider.store.get(REFRESH, store_key(self.tenant, raw)) if len(raw) < 512 else None
        if payload is None or self.provider.store.is_revoked(payload["subject"]["grant_id"]):
            return None
        subject = payload["subject"]
        claims = {"client_id": payload["client_id"], "scope": payload["scope"], "sub": subject["account_id"],
                  "exp": subject["family_expires_at"], "gid": subject["grant_id"], "sid": subject["sid"]}
        return TokenRecord(kind, raw, claims)


class IntrospectionEndpoint(_TokenLookup, _Introspection):
    CLIENT_AUTH_METHODS = CONFIDENTIAL

    def check_params(self, request, client):
        # RFC 7662 2.1: a hint the server does not know is ignored; query_token searches every kind
        if "token" not in request.form:
            raise InvalidRequestError()

    def check_permission(self, token, client, request):
        # RFC 7662 2.2, 4: a client learns about its own tokens; about others' access tokens, only
        # a client registered as a resource server (an API checking what it is presented). Else
        # another portal could see who is signed in where, and with what
        if token.check_client(client) or token.kind == "access_token" and client.client_metadata.get("resource_server"):
            return True
        self.provider.audit.record(self.tenant.id, "token.wrong_client", outcome="failure", client_id=client.client_id,
                                   ip=http_request.remote_addr, kind=token.kind, endpoint="introspection")
        return False

    def create_introspection_payload(self, token):
        if token and not self._grant_holds(token):
            return {"active": False}
        return super().create_introspection_payload(token)

    def _grant_holds(self, token):
        """What the refresh grant asks before it rotates: a token is inactive once its account can
        no longer sign in, or its session has ended (a grant without offline_access)."""
        c = token.claims
        if "gid" not in c:
            return True  # a client's own token (client_credentials): no account behind it
        if token.kind == "access_token":
            return access_holds(self.provider, self.tenant, c)
        if not account_holds_grants(self.provider, self.tenant, c["sub"]):
            return False
        return session_holds_grant(self.provider, self.tenant, c["sid"], c["scope"])

    def introspect_token(self, token):
        c = token.claims
        out = {"active": True, "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
               "iss": self.provider.issuer(self.tenant)}
        for name in ("client_id", "scope", "sub", "exp", "iat", "aud", "jti", "auth_time", "acr", "amr", "sid",
                     "authorization_details"):
            if name in c:
                out[name] = c[name]
        if "sub" in c and c["sub"] != c.get("client_id"):
            account = self.provider.accounts.get(self.tenant.id, c["sub"])
            if account:
                out["username"] = account.username
        return out


class RevocationEndpoint(_TokenLookup, _Revocation):
    CLIENT_AUTH_METHODS = CONFIDENTIAL + ["none"]

    def check_params(self, request, client):
        # RFC 7009 2.1: a hint that finds nothing (or that the server does not know) widens the
        # search to every kind; only a token of a kind never revocable here would be unsupported
        if "token" not in request.form:
            raise InvalidRequestError()

    def revoke_token(self, token, request):
        if token.kind == "refresh_token":
            # RFC 7009 2.1: revoking a refresh token also revokes the grant's access tokens
            self.provider.revoke_grant(self.tenant, token.claims["gid"], reason="revocation",
                                       client_id=request.client.client_id, subject=token.claims.get("sub"))
        else:
            if "jti" in token.claims and token.raw.count(".") == 2:
                ttl = max(1, token.claims["exp"] - time.time())
                self.provider.store.put(REVOKED_JTI, token.claims["jti"], {}, ttl)
            else:
                self.provider.store.delete(ACCESS, store_key(self.tenant, token.raw))
            self.provider.audit.record(self.tenant.id, "token.revoked", subject=token.claims.get("sub"),
                                       client_id=request.client.client_id, kind="access_token")
