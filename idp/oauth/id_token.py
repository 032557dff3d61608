"""ID tokens (OIDC Core 2 and 3.1.3.6), issued by the code grant and on refresh (12.2).

The ID token carries the authentication event (auth_time, acr, amr, sid, nonce) and the claims
the RP asked for in `claims.id_token`; scope claims are served by UserInfo (Core 5.4).
"""
import time

from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.grants.util import is_openid_scope
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from keys.jose import REGISTRY


class IdTokenExtension(OpenIDCode):
    def __init__(self, provider, tenant):
        super().__init__(require_nonce=False)
        self.provider, self.tenant = provider, tenant

    def __call__(self, grant):
        # prompt is decided by our interaction policy (policies/interaction.py), so Authlib's
        # validate_request_prompt hook is deliberately not registered.
        grant.register_hook("after_create_token_response", self.process_token)
        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook("after_validate_authorization_request_payload",
                                self.validate_openid_authorization_request)

    def exists_nonce(self, nonce, request):
        return False  # nonce replay is the RP's check (Core 3.1.3.7 step 11)

    def get_client_algorithm(self, client):
        return client.id_token_signed_response_alg

    def resolve_client_private_key(self, client):
        return self.provider.keys.get(self.tenant.id).signing_key(self.get_client_algorithm(client))

    def get_client_claims(self, client):
        now = int(time.time())
        return {"iss": self.provider.issuer(self.tenant), "aud": client.client_id, "iat": now,
                "exp": now + int(self.tenant.tokens.id_token_lifetime.total_seconds())}

    def generate_user_info(self, user, scope):
        return self.provider.user_claims(self.tenant, user.account_id, scope="", extra=user.id_token_claims)

    def encode_id_token(self, token, request):
        client, user = request.client, request.user
        alg = self.get_client_algorithm(client)
        key = self.resolve_client_private_key(client)
        claims = self.get_client_claims(client)
        claims.update(auth_time=user.auth_time, acr=user.acr, amr=user.amr, sid=user.sid)
        code = request.authorization_code
        if code is not None and code.get_nonce():
            claims["nonce"] = code.get_nonce()
        if token.get("access_token"):
            claims["at_hash"] = create_half_hash(token["access_token"], alg).decode()
        claims.update(self.generate_user_info(user, token.get("scope", "")))
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[alg], registry=REGISTRY)
