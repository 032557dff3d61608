"""The one place that wires the provider (fosite's compose/): every grant, extension, client
authentication method and endpoint a tenant's authorization server offers is listed here."""
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request

from .authorization_code import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from .client_auth import PrivateKeyJwt, client_secret_basic
from .id_token import IdTokenExtension
from .introspection import IntrospectionEndpoint, RevocationEndpoint
from .logout import EndSessionEndpoint
from .pkce import S256CodeChallenge
from .rar import AuthorizationDetailsExtension
from .tokens import TokenIssuer


def build_server(provider, tenant) -> "TenantServer":
    server = TenantServer(provider, tenant)
    server.register_token_generator("default", TokenIssuer(provider, tenant))
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), IdTokenExtension(provider, tenant),
                                                   AuthorizationDetailsExtension()])
    server.register_grant(RefreshTokenGrant, [IdTokenExtension(provider, tenant)])
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_client_auth_method(
        "private_key_jwt", PrivateKeyJwt(provider, tenant, f"{provider.issuer(tenant)}/token"))
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(EndSessionEndpoint)
    return server


class TenantServer(AuthorizationServer):
    """Authlib's Flask server bound to one tenant's clients, keys and store."""

    def __init__(self, provider, tenant):
        super().__init__(query_client=lambda client_id: provider.clients.find(tenant.id, client_id),
                         save_token=lambda token, request: None)  # refresh tokens are stored when generated
        self.provider, self.tenant = provider, tenant
        self.scopes_supported = list(tenant.scopes)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def create_token_response(self, request=None):
        # RFC 6749 3.2: parameters MUST NOT be repeated; refuse rather than guess which copy counts
        request = self.create_oauth2_request(request)
        if any(len(values) > 1 for values in request.payload.datalist.values()):
            return self.handle_error_response(request, InvalidRequestError("Repeated parameter."))
        return super().create_token_response(request)

    def validate_requested_scope(self, scope):
        pass  # OIDC Core 3.1.2.1: unknown scopes are ignored; the client's registration filters them

    def send_signal(self, name, *args, **kwargs):
        pass  # no blinker subscribers; skipping it keeps the token path lean
