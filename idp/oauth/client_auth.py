"""Client authentication at the token endpoint (OIDC Core 9).

`private_key_jwt` (RFC 7523 2.2): the client signs an assertion with a key whose public half it
registered; each assertion `jti` is accepted once. `client_secret_basic` (RFC 6749 2.3.1):
the id and secret form-urlencoded before base64 (our own parser: Authlib's only percent-decodes).
"""
import base64
import binascii
import time
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from keys.jose import UNREADABLE, registry
from .subject import digest

# what discovery advertises (token_endpoint_auth_signing_alg_values_supported), and all we take:
# Authlib's default is joserfc's "recommended" set, which leaves out PS256 and EdDSA and lets HS256 in
ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
_ASSERTIONS = registry(ASSERTION_ALGORITHMS)
MAX_ASSERTION = 8192  # characters: a signed assertion with an x5c chain fits well
MAX_ASSERTION_LIFETIME = 3600  # seconds from now to the assertion's exp


def client_secret_basic(query_client, request):
    client_id, secret = basic_credentials(request.headers.get("Authorization"))
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    if client is None:  # as Authlib: an unknown client named in Basic ends the search (401)
        raise InvalidClientError(status_code=401)
    return client if client.check_client_secret(secret) else None


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """Client id and secret from `Authorization: Basic`, form-decoded (RFC 6749 2.3.1, Appendix B:
    a `+` is a space; Authlib only percent-decodes). A malformed header (no base64, not UTF-8, no
    colon) is a failed authentication, not a server error."""
    kind, _, token = (header or "").partition(" ")
    if kind.lower() != "basic":
        return None, None
    try:
        pair = base64.b64decode(token.strip()).decode()
    except (binascii.Error, ValueError):
        return None, None
    client_id, colon, secret = pair.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else (None, None)


class PrivateKeyJwt(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, provider, tenant, token_url):
        super().__init__(validate_jti=True)
        self.provider, self.tenant, self.token_endpoint = provider, tenant, token_url

    def get_audiences(self):
        # RFC 7523 3: the token endpoint URL; OIDC also allows the issuer
        return [self.token_endpoint, self.provider.issuer(self.tenant)]

    def validate_jti(self, claims, jti):
        # remembered for as long as the assertion is valid, so it is used once; one valid for
        # longer than MAX_ASSERTION_LIFETIME is refused rather than remembered for days
        remaining = claims["exp"] - int(time.time())  # an int: exp may be too large for a float
        if not remaining <= MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="The assertion's exp is too far in the future.")
        # hashed: the client chooses the jti, of any length (the store's keys are short)
        key = digest(f"{self.tenant.id}:{claims['sub']}:{jti}")
        return self.provider.store.incr(f"client_assertion:{key}", ttl=max(remaining, 0) + self.leeway + 60) == 1

    def extract_assertion(self, assertion: str):
        # read before anything is verified: a huge or deeply nested payload is a bad assertion
        if len(assertion) > MAX_ASSERTION:
            raise InvalidClientError(description="Invalid JWT assertion.")
        try:
            return super().extract_assertion(assertion)
        except RecursionError:
            raise InvalidClientError(description="Invalid JWT payload.") from None

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, registry=_ASSERTIONS)
        except UNREADABLE as error:
            raise InvalidClientError(description=getattr(error, "description", None) or "Invalid JWT assertion.") \
                from error
        audiences = token.claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not audiences or not all(isinstance(a, str) for a in audiences) \
                or not set(audiences) <= set(self.get_audiences()):
            # Authlib takes any list that names this server among others: an assertion also
            # meant for another server is not for this one (the audience injection that
            # draft-ietf-oauth-rfc7523bis closes)
            raise InvalidClientError(description="The assertion's aud must name this server alone.")
        self.verify_claims(token.claims)
        return token.claims

    def resolve_client_public_key(self, client):
        # an assertion may name any client: one that registered no keys is not authenticated
        # this way (Authlib would retry a failed import with other arguments: a TypeError, a 500)
        jwks = client.client_metadata.get("jwks")
        if not client.check_endpoint_auth_method(self.CLIENT_AUTH_METHOD, "token") or not jwks:
            raise InvalidClientError(description=f"The client cannot authenticate with {self.CLIENT_AUTH_METHOD}.")
        try:
            return KeySet.import_key_set(jwks)
        except (JoseError, TypeError, ValueError, KeyError):  # registered before keys were checked
            raise InvalidClientError(description="The client's registered keys cannot be used.") from None
