"""OpenID Provider Metadata (OIDC Discovery 1.0 section 3) and RFC 8414 metadata."""
from keys.jose import SIGNING_ALGORITHMS
from .client_auth import ASSERTION_ALGORITHMS
from ..clients import AUTH_METHODS


def endpoints(issuer: str) -> dict:
    return {
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "introspection_endpoint": f"{issuer}/token/introspect",
        "revocation_endpoint": f"{issuer}/token/revoke",
        "end_session_endpoint": f"{issuer}/logout",
    }


def metadata(tenant, issuer: str) -> dict:
    scopes = tenant.scopes
    claims = sorted({"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "sid", "nonce",
                     *(c for names in scopes.values() for c in names)})
    return {
        "issuer": issuer,
        **endpoints(issuer),
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SIGNING_ALGORITHMS),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": [m for m in AUTH_METHODS if m != "none"],
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        # RFC 8414 2: required beside private_key_jwt; the same assertions as at the token endpoint
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(tenant.assurance.acr_values),
        "authorization_details_types_supported": sorted(tenant.authorization_details),
        "prompt_values_supported": ["none", "login", "select_account"],
        "display_values_supported": ["page", "popup", "touch"],
        "ui_locales_supported": list(tenant.locales),
        "claims_locales_supported": list(tenant.locales),
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
    }
