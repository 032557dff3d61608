"""Registered clients (relying parties) per tenant, as Authlib `ClientMixin` objects."""
import hashlib
import hmac
import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import ClientMixin, list_to_scope, scope_to_list
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from keys.jose import SIGNING_ALGORITHMS
from .storage.models import Client as ClientRow
from .text import encodes

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class ClientError(ValueError):
    pass


def secret_digest(master: bytes, secret: str) -> str:
    # Client secrets are generated with 256 bits of entropy, so a keyed hash is enough; a slow
    # KDF here would cap client_credentials throughput for no security gain.
    return hmac.new(master, b"client-secret:" + secret.encode(), hashlib.sha256).hexdigest()


@dataclass
class Client(ClientMixin):
    tenant_id: str
    client_id: str
    secret_hash: str | None = field(repr=False)  # (a repr may end in a log line)
    client_metadata: dict
    master: bytes = field(repr=False)

    # ClientMixin, as Authlib asks
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # OIDC: redirect_uri is required in every request

    def get_allowed_scope(self, scope):
        allowed = set(scope_to_list(self.client_metadata.get("scope", "")))
        return list_to_scope([s for s in scope_to_list(scope or "") if s in allowed])

    def check_redirect_uri(self, redirect_uri):
        # RFC 9700 2.1: exact string matching, no patterns; the one exception is the port of a
        # native (public) app's loopback IP redirect URI, which the OS picks per request (RFC 8252 7.3)
        registered = self.client_metadata["redirect_uris"]
        if redirect_uri in registered:
            return True
        bare = self.is_public and _without_loopback_port(redirect_uri)
        return bool(bare) and any(_without_loopback_port(uri) == bare for uri in registered)

    def check_client_secret(self, client_secret):
        if not self.secret_hash or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(secret_digest(self.master, client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types

    # Our own accessors
    @property
    def auth_method(self):
        return self.client_metadata["token_endpoint_auth_method"]

    @property
    def grant_types(self):
        return self.client_metadata["grant_types"]

    @property
    def is_public(self):
        return self.auth_method == "none"

    @property
    def requires_pkce(self):
        # a public client always; a confidential one when registered so (RFC 9700 2.1.1 lets it
        # choose, and certified relying parties of the OIDF's Basic plan send none)
        return self.is_public or bool(self.client_metadata.get("require_pkce"))

    @property
    def id_token_signed_response_alg(self):
        return self.client_metadata.get("id_token_signed_response_alg", "RS256")

    @property
    def access_token_format(self):
        return self.client_metadata.get("access_token_format", "jwt")


LOOPBACK_IPS = ("127.0.0.1", "::1")


def _without_loopback_port(uri: str) -> str | None:
    """`uri` without its port if it is http://<loopback IP literal>[:port]/..., else None."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed IPv6 bracket in a requested URI
        return None
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_IPS:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.netloc.removeprefix(host)
    if port == parts.netloc or not re.fullmatch(r"(:[0-9]{1,5})?", port) or (port and not 0 < int(port[1:]) < 65536):
        return None  # userinfo, another spelling of the host, or no port number
    return urlunsplit(parts._replace(netloc=host))


MAX_URI = 2000          # characters in a registered URI: a browser's address bar holds more, portals less
MAX_NAME = 200
_SCOPE_TOKEN = re.compile(r'[\x21\x23-\x5b\x5d-\x7e]+')
_NOT_IN_URIS = set(' "<>\\^`{|}')  # RFC 3986: never in a URI unencoded


def _check_uri(uri: str, what: str) -> str:
    # what is stored is what is matched, byte for byte: urlsplit would quietly drop a tab or a
    # line break, so a URI that looks valid to it may not be the one a browser is sent to
    if len(uri) > MAX_URI or not uri.isascii() or any(c < " " or c == "\x7f" or c in _NOT_IN_URIS for c in uri):
        raise ClientError(f"{what} {uri[:80]!r} must be at most {MAX_URI} characters of a URI "
                          "(ASCII, no spaces or control characters; percent-encode the rest)")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or out of range
    except ValueError as exc:
        raise ClientError(f"{what} {uri!r} is not a valid URI: {exc}") from None
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise ClientError(f"{what} {uri!r} must be an absolute http(s) URI without a fragment")
    if parts.scheme == "http" and not loopback:
        raise ClientError(f"{what} {uri!r} must use https (http only on loopback)")
    if "@" in parts.netloc:
        raise ClientError(f"{what} {uri!r} must not carry a user name or password")
    return uri


def _text(value: str, what: str) -> str:
    if not encodes(value):  # bytes that were not UTF-8 on the command line
        raise ClientError(f"{what} is not valid UTF-8 text")
    if len(value) > MAX_NAME or not value.isprintable():
        raise ClientError(f"{what} must be at most {MAX_NAME} printable characters")
    return value


def _check_jwks(jwks) -> dict:
    """The client's public signing keys: a JWK Set that imports, asymmetric, no private parts
    (checked here, or every assertion of the client would fail at the token endpoint)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) \
            or not all(isinstance(key, dict) for key in jwks["keys"]):
        raise ClientError('jwks must be a JWK Set: {"keys": [{...}, ...]}')
    try:
        with warnings.catch_warnings():  # joserfc warns of a short oct key, refused just below anyway
            warnings.simplefilter("ignore")
            keys = KeySet.import_key_set(jwks).keys
    except (JoseError, TypeError, ValueError, KeyError) as exc:
        raise ClientError(f"jwks is not a usable JWK Set: {exc}") from None
    if any(key.key_type == "oct" or key.is_private for key in keys):
        raise ClientError("jwks must hold only public RSA, EC or OKP keys")
    return jwks


def build_metadata(*, redirect_uris, post_logout_redirect_uris=(), backchannel_logout_uri=None,
                   auth_method="client_secret_basic", grant_types=("authorization_code", "refresh_token"),
                   scope="openid profile email phone offline_access", jwks=None,
                   id_token_alg="RS256", access_token_format="jwt", client_name=None, require_pkce=False,
                   resource_server=False) -> dict:
    if auth_method not in AUTH_METHODS:
        raise ClientError(f"auth method must be one of {AUTH_METHODS}")
    unknown = set(grant_types) - set(GRANT_TYPES)
    if unknown:
        raise ClientError(f"unknown grant type(s) {sorted(unknown)}; allowed {GRANT_TYPES}")
    if auth_method == "none" and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("authorization_code needs at least one --redirect-uri")
    if auth_method == "private_key_jwt" and not jwks:
        raise ClientError("private_key_jwt needs the client's public keys (jwks)")
    if resource_server and auth_method == "none":
        raise ClientError("a resource server introspects tokens, which takes a confidential client, not none")
    if jwks and auth_method != "private_key_jwt":
        raise ClientError("jwks (the client's keys) is only for private_key_jwt")
    if not scope or not scope.strip():
        raise ClientError("scope is empty: name the scopes the client may ask for")
    if not all(_SCOPE_TOKEN.fullmatch(name) for name in scope.split()):  # API scopes for client_credentials too
        raise ClientError('scope: names of printable ASCII without " or \\, separated by spaces (RFC 6749 3.3)')
    jwks = jwks and _check_jwks(jwks)
    client_name, scope = client_name and _text(client_name, "client name"), " ".join(scope.split())
    if id_token_alg not in SIGNING_ALGORITHMS:
        raise ClientError(f"id_token alg must be one of {SIGNING_ALGORITHMS}")
    if access_token_format not in ("jwt", "opaque"):
        raise ClientError("access token format must be jwt or opaque")
    return {
        "client_name": client_name,
        "redirect_uris": [_check_uri(u, "redirect URI") for u in redirect_uris],
        "post_logout_redirect_uris": [_check_uri(u, "post-logout redirect URI") for u in post_logout_redirect_uris],
        "backchannel_logout_uri": None if backchannel_logout_uri is None
        else _check_uri(backchannel_logout_uri, "back-channel logout URI"),
        "backchannel_logout_session_required": bool(backchannel_logout_uri),
        "token_endpoint_auth_method": auth_method,
        "grant_types": list(grant_types),
        "response_types": ["code"] if "authorization_code" in grant_types else [],
        "scope": scope,
        "jwks": jwks,
        "id_token_signed_response_alg": id_token_alg,
        "access_token_format": access_token_format,
        "require_pkce": bool(require_pkce) or auth_method == "none",
        # an API's own client: it may introspect the tenant's access tokens (RFC 7662 4), which
        # any other client may do only for its own
        "resource_server": bool(resource_server),
    }


class ClientRegistry:
    """Clients from SQL, cached briefly per worker: the token endpoint looks one up per request."""

    def __init__(self, database, master: bytes, cache_seconds: float = 5.0):
        self.database, self.master, self.cache_seconds = database, master, cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def find(self, tenant_id: str, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or len(client_id) > 128 or "\x00" in client_id \
                or not client_id.isascii() and not encodes(client_id):
            return None  # from a Basic header or an assertion: NUL or a lone surrogate is no client id
        key = (tenant_id, client_id)
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        with self.database.session() as s:
            row = s.get(ClientRow, key)
            client = row and not _deleted(row) and Client(row.tenant_id, row.client_id, row.secret_hash,
                                                          row.client_metadata, self.master) or None
        if client is not None:  # misses are not kept: their keys are anyone's choice, without bound
            with self._lock:
                self._cache[key] = (time.monotonic() + self.cache_seconds, client)
        return client

    def create(self, tenant_id: str, client_id: str, metadata: dict, secret: str | None = None) -> dict:
        if not client_id or len(client_id) > 128 or not client_id.isprintable() or " " in client_id:
            raise ClientError("client id must be 1-128 printable characters without spaces")
        public = metadata["token_endpoint_auth_method"] in ("none", "private_key_jwt")
        if public and secret is not None:  # it would be dropped, and the client believe it has one
            raise ClientError(f"a {metadata['token_endpoint_auth_method']} client has no secret")
        secret = None if public else _new_secret(secret)
        row = ClientRow(
            tenant_id=tenant_id, client_id=client_id, client_metadata=metadata,
            secret_hash=None if public else secret_digest(self.master, secret),
            created_at=datetime.now(timezone.utc),
        )
        try:
            with self.database.session() as s:
                s.add(row)
        except IntegrityError:
            with self.database.session() as s:
                deleted = _deleted(s.get(ClientRow, (tenant_id, client_id)))
            raise ClientError(f"client {client_id!r} " + ("was deleted; a client id is never used again" if deleted
                              else f"already exists in tenant {tenant_id!r}")) from None
        self._cache.pop((tenant_id, client_id), None)
        out = {"client_id": client_id, **metadata}
        if not public:
            out["client_secret"] = secret
        return out

    def registrations(self, tenant_id: str) -> list[dict]:
        """Every client of the tenant as registered, without secrets."""
        with self.database.session() as s:
            rows = s.scalars(select(ClientRow).where(ClientRow.tenant_id == tenant_id).order_by(ClientRow.client_id))
            return [{"client_id": row.client_id, **row.client_metadata} for row in rows if not _deleted(row)]

    def registration(self, tenant_id: str, client_id: str) -> dict:
        """One client as registered, without its secret."""
        with self.database.session() as s:
            row = _registered(s, tenant_id, client_id)
            return {"client_id": row.client_id, **row.client_metadata}

    def update(self, tenant_id: str, client_id: str, metadata: dict, secret: str | None = None) -> dict:
        """New metadata (redirect URIs, scope, ...) for a client. Its auth method may change among the
        confidential ones, as a portal moves to private_key_jwt and back: the secret goes with the
        move to keys (a move back must not revive it), a new one (printed once) comes with the move
        back. Never to or from none: a public client's tokens and PKCE obligations differ."""
        method = metadata["token_endpoint_auth_method"]
        with self.database.session() as s:
            row = _registered(s, tenant_id, client_id)
            was = row.client_metadata["token_endpoint_auth_method"]
            if "none" in (was, method) and was != method:
                raise ClientError(f"a client cannot change from {was} to {method} (a public client's tokens and "
                                  "PKCE differ): register a new client")
            new_secret = was == "private_key_jwt" and method in SECRET_METHODS
            if secret is not None and not new_secret:
                raise ClientError("a secret is given on update only with a change from private_key_jwt to a "
                                  "secret method; for a new secret use rotate-secret")
            if new_secret:
                secret = _new_secret(secret)
                row.secret_hash = secret_digest(self.master, secret)
            elif method not in SECRET_METHODS:
                row.secret_hash = None
            row.client_metadata = metadata
        self._cache.pop((tenant_id, client_id), None)  # this worker's; the others' within cache_seconds
        return {"client_id": client_id, **metadata, **({"client_secret": secret} if new_secret else {})}

    def rotate_secret(self, tenant_id: str, client_id: str, secret: str | None = None) -> dict:
        """A new secret; the old one is refused once the workers' caches lapse (cache_seconds)."""
        with self.database.session() as s:
            row = _registered(s, tenant_id, client_id)
            if row.secret_hash is None:
                raise ClientError(f"client {client_id!r} authenticates without a secret "
                                  f"({row.client_metadata['token_endpoint_auth_method']})")
            secret = _new_secret(secret)
            row.secret_hash = secret_digest(self.master, secret)
        self._cache.pop((tenant_id, client_id), None)
        return {"client_id": client_id, "client_secret": secret}

    def delete(self, tenant_id: str, client_id: str) -> None:
        """The registration ends: its codes, refresh tokens and client authentication fail. A
        tombstone stays, as a terminated user ID does: the tokens name the client by its id, so a
        portal registered later under it would inherit them."""
        with self.database.session() as s:
            row = _registered(s, tenant_id, client_id)
            row.client_metadata = {"deleted_at": datetime.now(timezone.utc).isoformat()}
            row.secret_hash = None
        self._cache.pop((tenant_id, client_id), None)


def _deleted(row) -> bool:
    return bool(row and row.client_metadata.get("deleted_at"))


def _registered(session, tenant_id: str, client_id: str) -> ClientRow:
    row = session.get(ClientRow, (tenant_id, client_id))
    if row is None or _deleted(row):
        raise ClientError(f"no client {client_id!r} in tenant {tenant_id!r}")
    return row


def _new_secret(secret: str | None) -> str:
    secret = secrets.token_urlsafe(32) if secret is None else secret
    if not 16 <= len(secret) <= 512:
        raise ClientError("a client secret needs 16 to 512 characters")
    return secret


def metadata_arguments(metadata: dict) -> dict:
    """A registration as build_metadata's arguments, so that an update checks what it keeps too."""
    return {
        "redirect_uris": metadata["redirect_uris"], "post_logout_redirect_uris": metadata["post_logout_redirect_uris"],
        "backchannel_logout_uri": metadata.get("backchannel_logout_uri"),
        "auth_method": metadata["token_endpoint_auth_method"], "grant_types": metadata["grant_types"],
        "scope": metadata["scope"], "jwks": metadata.get("jwks"),
        "id_token_alg": metadata.get("id_token_signed_response_alg", "RS256"),
        "access_token_format": metadata.get("access_token_format", "jwt"), "client_name": metadata.get("client_name"),
        "require_pkce": metadata.get("require_pkce", False),
        "resource_server": metadata.get("resource_server", False),
    }
