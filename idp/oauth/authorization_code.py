"""The authorization code grant (RFC 6749 4.1, OIDC Core 3.1).

Codes are stored by hash, live 60 s, and are consumed atomically. A second use of a code is
refused and revokes everything issued from it (RFC 9700 4.2.4, OIDC Core 3.1.3.2).
"""
import time

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, InvalidScopeError, grants
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin
from flask import request as http_request

from flows.ports import REVOKED, ROTATED, SPENT, Successor
from ..clients import AUTH_METHODS
from .grant import account_holds_grants, session_holds_grant
from .subject import Subject, store_key
from .tokens import REFRESH, random_token

CODE, CODE_USED = "code", "code_used"
REPLAY_WINDOW = 24 * 3600  # how long a used code is remembered to detect replay


class AuthorizationCode(AuthorizationCodeMixin):
    def __init__(self, payload: dict, key: str):
        self.payload, self.key = payload, key  # key: where it lives in the store
        self.subject = Subject.from_dict(payload["subject"])
        self.code_challenge = payload.get("code_challenge")
        self.code_challenge_method = payload.get("code_challenge_method")

    def get_redirect_uri(self):
        return self.payload["redirect_uri"]

    def get_scope(self):
        return self.payload["scope"]

    def get_nonce(self):
        return self.payload.get("nonce")

    def get_auth_time(self):
        return self.subject.auth_time

    def get_acr(self):
        return self.subject.acr

    def get_amr(self):
        return self.subject.amr


class SpentOnce:
    """A credential used once (a code, a refresh token): read, not spent, while the request is
    checked, so a refused request, or one a store failure breaks off before its tokens are made,
    leaves it to its client's retry; spent in one atomic step once the whole response (ID token
    included: Authlib makes it in a hook) is made, if it is still this client's, leaving a
    tombstone. A tombstone shown again by its client is reuse: the whole grant is revoked."""

    KIND = USED = REASON = ""
    USED_TTL = None  # how long the tombstone stays (None: as long as the credential had left)
    successor: Successor | None = None  # the refresh token the response carries, not yet stored

    def _read(self, key, client) -> dict | None:
        payload = self.provider.store.get(self.KIND, key)
        if payload is not None and payload["client_id"] == client.client_id:
            return payload
        if payload is not None:  # another client's: stolen, or a mix-up; it stays its owner's
            self.provider.audit.record(self.tenant.id, "token.wrong_client", outcome="failure",
                                       client_id=client.client_id, ip=http_request.remote_addr, kind=self.KIND)
        else:
            self._revoke_if_reused(key, client)
        return None

    def _revoke_if_reused(self, key, client):
        used = self.provider.store.get(self.USED, key)
        # (tombstones of the earliest shape name no client)
        if used and used.get("client_id", client.client_id) == client.client_id:
            self.provider.revoke_grant(self.tenant, _grant_of(used), reason=self.REASON, client_id=client.client_id,
                                       subject=_account_of(used), ip=http_request.remote_addr)

    def _spend(self, key, successor: Successor | None):
        """Spent meanwhile (the same credential sent twice at once): that second use is reuse.
        The refresh token the response carries is stored in the same atomic step, so none is
        left behind by a request that loses."""
        client, store = self.request.client, self.provider.store
        if successor is None:  # no refresh token to store with it: the credential is spent alone
            outcome = ROTATED if store.retire(self.KIND, key, self.USED, ttl=self.USED_TTL, client_id=client.client_id,
                                              grant_id=self.request.user.grant_id) is not None else SPENT
        else:
            outcome = store.rotate(self.KIND, key, self.USED, client.client_id, successor, ttl=self.USED_TTL)
        if outcome == REVOKED:  # a logout or a detected reuse since this request read it
            raise InvalidGrantError("The grant was revoked.")
        if outcome == SPENT:
            self._revoke_if_reused(key, client)
            raise InvalidGrantError()


class AuthorizationCodeGrant(SpentOnce, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    KIND, USED, REASON, USED_TTL = CODE, CODE_USED, "code_replay", REPLAY_WINDOW

    def __init__(self, request, server):
        super().__init__(request, server)
        self.provider, self.tenant = server.provider, server.tenant

    def generate_authorization_code(self):
        return random_token()

    def save_authorization_code(self, code, request):
        data = request.payload.data
        payload = {
            "client_id": request.client.client_id,
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope,
            "nonce": data.get("nonce"),
            "code_challenge": data.get("code_challenge"),
            "code_challenge_method": data.get("code_challenge_method"),
            "subject": request.user.to_dict(),
        }
        ttl = self.tenant.tokens.authorization_code_lifetime.total_seconds()
        self.provider.store.put(CODE, store_key(self.tenant, code), payload, ttl, grant_id=request.user.grant_id)

    def query_authorization_code(self, code, client):
        key = store_key(self.tenant, code)
        payload = self._read(key, client)  # spent in create_token_response (SpentOnce)
        return payload and AuthorizationCode(payload, key)

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        token = super().generate_token(user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
                                       include_refresh_token=False)
        if include_refresh_token:  # stored as the code is spent
            token["refresh_token"], self.successor = self.server.token_issuer.refresh_token(
                self.request.client, user, scope)
        return token

    def create_token_response(self):
        response = super().create_token_response()  # with its hooks: the ID token is made there
        self._spend(self.request.authorization_code.key, self.successor)
        return response

    def delete_authorization_code(self, authorization_code):
        pass  # spent in create_token_response, after the hooks that make the ID token

    def authenticate_user(self, authorization_code):
        subject = authorization_code.subject
        if not account_holds_grants(self.provider, self.tenant, subject.account_id):
            raise InvalidGrantError("The account can no longer sign in.")
        if "offline_access" in scope_to_list(authorization_code.get_scope()):
            # listed under its account (ASVS 7.4.3) before the session is checked: a password
            # reset landing meanwhile either ended the session already (refused below) or finds it
            lifetime = self.tenant.tokens.refresh_token_lifetime.total_seconds()
            self.provider.store.add_account_grant(subject.account_id, subject.grant_id, lifetime)
        # the sign-in the code came from must still be on: a logout, a reset or another user's
        # sign-in in its 60 s ends it, and with it what it was about to grant (offline or not)
        if not self.provider.sessions.sid_live(self.tenant, subject.sid):
            raise InvalidGrantError("The session this code belongs to has ended.")
        subject.family_expires_at = None  # a new refresh-token family starts here
        return subject


class RefreshCredential:
    def __init__(self, payload, key):
        self.payload, self.key = payload, key  # key: where it lives in the store

    def get_scope(self):
        return self.payload["scope"]

    def check_client(self, client):
        return self.payload["client_id"] == client.client_id

    def is_expired(self):
        return False  # the store expires it

    def is_revoked(self):
        return False


class RefreshTokenGrant(SpentOnce, grants.RefreshTokenGrant):
    """RFC 6749 6 with rotation (RFC 9700 4.14.2): each use returns a new refresh token, and a
    reused one revokes the whole grant."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    KIND, USED, REASON = REFRESH, "refresh_used", "refresh_token_reuse"

    def __init__(self, request, server):
        super().__init__(request, server)
        self.provider, self.tenant = server.provider, server.tenant

    def _validate_request_token(self, client):
        raw = self.request.form.get("refresh_token")
        if not raw:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        key = store_key(self.tenant, raw)
        current = self._read(key, client)  # spent in create_token_response (SpentOnce)
        if current is None:
            raise InvalidGrantError()
        credential = RefreshCredential(current, key)
        self._validate_token_scope(credential)
        self._validate_grant_holds(credential)
        return credential

    def _validate_grant_holds(self, credential):
        subject = credential.payload["subject"]
        if not account_holds_grants(self.provider, self.tenant, subject["account_id"]):
            raise InvalidGrantError("The account can no longer sign in.")
        if not session_holds_grant(self.provider, self.tenant, subject["sid"], credential.get_scope(), refreshing=True):
            raise InvalidGrantError("The session this grant belongs to has ended.")

    def authenticate_user(self, credential):
        subject = Subject.from_dict(credential.payload["subject"])  # checked in _validate_request_token
        subject.authorization_details = []  # a transaction approval is not renewed by refresh
        if subject.step_down and time.time() > subject.step_down["at"]:  # nor is a lapsed step-up
            subject.acr, subject.amr = subject.step_down["acr"], subject.step_down["amr"]
            subject.step_down = None
        return subject

    def issue_token(self, user, credential):
        # RFC 6749 6: the new refresh token has exactly the old one's scope; a narrower `scope`
        # narrows only the access token, so a later refresh may ask for the rest again. Stored
        # (refused for a grant revoked meanwhile) as the old one is spent
        scope = self.request.payload.scope or credential.get_scope()
        token = self.generate_token(user=user, scope=scope, include_refresh_token=False)
        token["refresh_token"], self.successor = self.server.token_issuer.refresh_token(
            self.request.client, user, credential.get_scope())
        return token

    def create_token_response(self):
        response = super().create_token_response()  # with its hooks: the ID token is made there
        self._spend(self.request.refresh_token.key, self.successor)
        return response

    def revoke_old_credential(self, credential):
        pass  # spent in create_token_response, after the hooks that make the ID token


def _account_of(used: dict) -> str | None:
    return used.get("subject", {}).get("account_id")  # (tombstones of an earlier shape: none)


def _grant_of(used: dict) -> str:
    """The grant (token family) a tombstone belongs to. A tombstone holds the retired payload;
    ones written before retire() existed held only the grant id (and the client id)."""
    return used.get("grant_id") or used["subject"]["grant_id"]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_requested_scope(self):
        """RFC 6749 3.3: the client's own API scopes, never a user's (openid, profile, membership...):
        with no user behind the token they stand for no one's consent, and an API that trusts the
        scope would serve user data to a bare client. Without a scope, all of its API scopes; with
        none of them among those asked, invalid_scope, not a token for nothing that a library would
        read as granted as asked (5.1)."""
        client, data = self.request.client, self.request.payload.data
        user_scopes = self.server.tenant.scopes
        own = [s for s in scope_to_list(client.client_metadata.get("scope", "")) if s not in user_scopes]
        asked = scope_to_list(data.get("scope") or "")
        granted = [s for s in dict.fromkeys(asked) if s in own] if asked else own
        if not granted:
            raise InvalidScopeError("None of the requested scopes is an API scope registered for this client."
                                    if asked else "Name a scope: this client has none of its own to default to.")
        data["scope"] = list_to_scope(granted)
