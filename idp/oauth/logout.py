"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

A valid `id_token_hint` (signed by this tenant, expiry ignored) plus a registered
`post_logout_redirect_uri` redirects back with `state`; anything less logs out without a
redirect. Without a hint the user confirms first, so a forged link cannot sign them out
(ASVS 10.6.2). Each client that took part in the session and registered a back-channel URI
receives a signed logout token carrying `sid`.
"""
import logging
import time

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSession
from joserfc import jwt

from keys.jose import REGISTRY, SIGNING_ALGORITHMS, UNREADABLE
from ..outbound_http import PostFailed, post
from ..outgoing import lane_of
from .subject import new_id

log = logging.getLogger(__name__)
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
DELIVERY_SECONDS = 5   # one delivery as a whole, connection to last byte
STALE_SECONDS = 600    # a notice still waiting this long is dropped (audited): the portal is down


class UnregisteredReturn(InvalidRequestError):
    """A post_logout_redirect_uri the client did not register: never followed."""


class EndSessionEndpoint(_EndSession):
    def __init__(self, server):
        super().__init__(server)
        self.provider, self.tenant = server.provider, server.tenant

    def get_server_jwks(self):
        return self.provider.keys.get(self.tenant.id).hint_verifier  # (retired keys too: keys.TenantKeys)

    def _validate_id_token_hint(self, id_token_hint):
        # as Authlib's, but through our registry (EdDSA) and refusing alg=none and foreign keys
        try:
            token = jwt.decode(id_token_hint, self.get_server_jwks(), algorithms=list(SIGNING_ALGORITHMS),
                               registry=REGISTRY)
        except UNREADABLE as exc:
            raise InvalidRequestError("id_token_hint is not a valid ID token of this issuer") from exc
        if token.claims.get("iss") != self.provider.issuer(self.tenant):
            raise InvalidRequestError("id_token_hint was issued by another issuer")
        # the same keys sign access tokens (at+jwt) and logout tokens (logout+jwt): only an ID
        # token names the user as an RP saw them sign in
        if str(token.header.get("typ", "")).upper() != "JWT":
            raise InvalidRequestError("id_token_hint is not an ID token")
        return dict(token.claims)

    def validate_request(self, request):
        validated = super().validate_request(request)
        uri = request.payload.data.get("post_logout_redirect_uri")
        # RP-Initiated Logout 3: never to an unregistered URI, and the portal's developers are
        # told (the view asks the user, instead of signing out as if the request were whole)
        if uri and not (validated.client and self._is_valid_post_logout_redirect_uri(validated.client, uri)):
            raise UnregisteredReturn("post_logout_redirect_uri is not registered for this client")
        return validated

    def end_session(self, end_session_request):
        pass  # the view ends the browser session (it owns the cookie)


def logout_token(provider, tenant, client, sub: str, sid: str) -> str:
    # signed as the client's ID tokens are (Back-Channel Logout 2.6 validates it as one): a portal
    # that accepts only its registered algorithm would drop an RS256 token
    alg = client.id_token_signed_response_alg
    key = provider.keys.get(tenant.id).signing_key(alg)
    now = int(time.time())
    claims = {"iss": provider.issuer(tenant), "aud": client.client_id, "iat": now, "exp": now + 120,
              "jti": new_id(), "sub": sub, "sid": sid, "events": {BACKCHANNEL_EVENT: {}}}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key,
                      algorithms=[alg], registry=REGISTRY)


def notify_backchannel(provider, tenant, client_ids, sub, sid):
    """POST a logout token to each participating client's back-channel URI, signed and sent in
    the background, on a lane of the client's own: a slow or dead portal holds up only its own
    notices, never the user's page or another portal's (each delivery is cut off after
    DELIVERY_SECONDS, a notice waiting past STALE_SECONDS or past the lane's bound is dropped)."""
    futures = []
    for client_id in client_ids:
        client = provider.clients.find(tenant.id, client_id)
        uri = client and client.client_metadata.get("backchannel_logout_uri")
        if not uri:
            continue
        lane = lane_of(f"backchannel:{tenant.id}:{client.client_id}")
        if not lane.reserve():
            _audit(provider, tenant, client.client_id, uri, sub, False, error="queue_full")
            continue
        stale_at = time.monotonic() + STALE_SECONDS
        futures.append(lane.pool.submit(_deliver, lane, stale_at, provider, tenant, client, uri, sub, sid))
    return futures


def _deliver(lane, stale_at, provider, tenant, client, uri, sub, sid) -> bool:
    try:
        if time.monotonic() > stale_at:
            _audit(provider, tenant, client.client_id, uri, sub, False, error="stale")
            return False
        try:
            token = logout_token(provider, tenant, client, sub, sid)
        except Exception:  # noqa: BLE001 - the logout (or the deactivation) it reports stands
            log.exception("no back-channel logout token for %s", client.client_id)
            _audit(provider, tenant, client.client_id, uri, sub, False, error="token")
            return False
        return _post(provider, tenant, client.client_id, uri, token, sub)
    finally:
        lane.release()


def _post(provider, tenant, client_id, uri, token, sub) -> bool:
    # Back-Channel Logout 2.8: the portal's 200 to this request, at this URI, is the delivery
    error = None
    try:
        status = post(uri, f"logout_token={token}".encode(),
                      {"Content-Type": "application/x-www-form-urlencoded"}, DELIVERY_SECONDS)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except PostFailed as exc:
        error = str(exc)
    if error:
        log.warning("back-channel logout to %s failed: %s", uri, error)
    return _audit(provider, tenant, client_id, uri, sub, error is None, error=error)


def _audit(provider, tenant, client_id, uri, sub, ok: bool, error=None) -> bool:
    detail = {"error": error} if error else {}
    provider.audit.record(tenant.id, "logout.backchannel", outcome="success" if ok else "failure",
                          subject=sub, client_id=client_id, uri=uri, **detail)
    return ok
