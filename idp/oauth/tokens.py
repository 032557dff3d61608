"""Access and refresh tokens.

Access tokens are RFC 9068 JWTs (`typ: at+jwt`, 5-minute default) or, for a client registered
with `access_token_format = "opaque"`, random strings whose claims live in the ephemeral store.
Refresh tokens are random, stored by hash under their grant id, rotated on every use.
"""
import secrets
import time

from authlib.oauth2.rfc6750 import BearerTokenGenerator
from joserfc import jwt

from flows.ports import Successor
from keys.jose import REGISTRY, UNREADABLE
from .subject import Subject, new_id, store_key

ACCESS, REFRESH, REVOKED_JTI = "access", "refresh", "revoked_jti"


def random_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe (43 characters). Authlib's `generate_token` draws
    one character at a time through `SystemRandom.choice`, ~60 us per token."""
    return secrets.token_urlsafe(32)


class TokenIssuer(BearerTokenGenerator):
    def __init__(self, provider, tenant):
        self.provider, self.tenant = provider, tenant
        self.issuer = provider.issuer(tenant)
        # no refresh-token generator for Authlib: the grants make refresh tokens themselves
        super().__init__(self.access_token, None, self.expires_in)

    def expires_in(self, client, grant_type):
        return int(self.tenant.tokens.access_token_lifetime.total_seconds())

    def claims(self, client, grant_type, user: Subject | None, scope) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "exp": now + self.expires_in(client, grant_type), "iat": now,
            "jti": new_id(), "client_id": client.client_id, "aud": client.client_id, "scope": scope,
            "sub": user.account_id if user else client.client_id,
        }
        if user:
            claims.update(auth_time=user.auth_time, acr=user.acr, amr=user.amr, sid=user.sid, gid=user.grant_id)
            if user.userinfo_claims:
                claims["userinfo_claims"] = user.userinfo_claims
            if user.authorization_details:
                claims["authorization_details"] = user.authorization_details  # RFC 9396 9.1
        return claims

    def access_token(self, client, grant_type, user, scope):
        claims = self.claims(client, grant_type, user, scope)
        if client.access_token_format == "opaque":
            token = random_token()
            ttl = claims["exp"] - claims["iat"]
            self.provider.store.put(ACCESS, store_key(self.tenant, token), claims, ttl, grant_id=claims.get("gid"))
            return token
        key = self.provider.keys.get(self.tenant.id).signing_key("RS256")
        header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=["RS256"], registry=REGISTRY)

    def refresh_token(self, client, user: Subject, scope) -> tuple[str, Successor]:
        """A new refresh token, and its entry for the store: written by the grant in the same
        atomic step that spends what it was issued for (a code, the previous refresh token)."""
        now = int(time.time())
        if user.family_expires_at is None:  # a new grant (listed under its account at code exchange)
            user.family_expires_at = now + int(self.tenant.tokens.refresh_token_lifetime.total_seconds())
        token = random_token()
        payload = {"client_id": client.client_id, "scope": scope, "subject": user.to_dict()}
        return token, Successor(REFRESH, store_key(self.tenant, token), payload, user.family_expires_at - now,
                                user.grant_id)


def validate_access_token(provider, tenant, token: str) -> dict | None:
    """The claims of a live access token of this tenant, or None (expired, revoked, forged)."""
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    if token.count(".") == 2:
        try:
            decoded = jwt.decode(token, provider.keys.get(tenant.id).verifier,
                                 algorithms=["RS256"], registry=REGISTRY)
        except UNREADABLE:
            return None
        if decoded.header.get("typ") != "at+jwt":
            return None  # an ID token is not an access token (RFC 9068 4)
        claims = dict(decoded.claims)
        if provider.store.get(REVOKED_JTI, claims.get("jti", "")) is not None:
            return None
    else:
        claims = provider.store.get(ACCESS, store_key(tenant, token)) or {}
    if claims.get("iss") != provider.issuer(tenant) or claims.get("exp", 0) <= time.time():
        return None
    if claims.get("gid") and provider.store.is_revoked(claims["gid"]):
        return None
    if provider.clients.find(tenant.id, claims.get("client_id")) is None:
        return None  # its client deleted: the portal is gone, and so are its tokens
    return claims
