"""The one place that wires the provider (fosite's compose/): every grant, extension, client
authentication method and endpoint a tenant's authorization server offers is listed here."""
import json
from urllib.parse import parse_qsl

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidGrantError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import Response, request as http_request
from werkzeug.datastructures import MultiDict

from .authorization_code import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from .client_auth import PrivateKeyJwt, basic_credentials, client_secret_basic
from .id_token import IdTokenExtension
from .introspection import IntrospectionEndpoint, RevocationEndpoint
from .logout import EndSessionEndpoint
from .pkce import S256CodeChallenge
from .rar import AuthorizationDetailsExtension
from .tokens import TokenIssuer


NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def build_server(provider, tenant) -> "TenantServer":
    server = TenantServer(provider, tenant)
    server.register_token_generator("default", server.token_issuer)
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
                         save_token=lambda token, request: None)  # refresh tokens: stored as what they replace is spent
        self.provider, self.tenant = provider, tenant
        self.token_issuer = TokenIssuer(provider, tenant)  # the code and refresh grants ask it for refresh tokens
        self.scopes_supported = list(tenant.scopes)

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        return EndpointRequest(http_request._get_current_object())

    def create_token_response(self, request=None):
        # RFC 6749 3.2: parameters MUST NOT be repeated; refuse rather than guess which copy counts
        request = self.create_oauth2_request(request)
        if any(len(values) > 1 for values in request.payload.datalist.values()):
            return self.handle_error_response(request, InvalidRequestError("Repeated parameter."))
        if not request.payload.grant_type:  # RFC 6749 5.2: a missing parameter, not an unknown grant
            return self.handle_error_response(request, InvalidRequestError("Missing 'grant_type'."))
        return super().create_token_response(request)

    def authenticate_client(self, request, methods, endpoint="token"):
        header = request.headers.get("Authorization", "")
        basic_id, basic_secret = basic_credentials(header)  # decoded once here (Authlib's method again)
        used = _credentials_presented(request, header, basic_id, basic_secret)
        try:
            if len(used) > 1:  # RFC 6749 2.3: MUST NOT; 5.2: invalid_request
                raise InvalidRequestError("More than one client authentication method.")
            if used == ["client_secret_basic"]:
                named = request.payload.client_id
                if named and named != basic_id:
                    raise InvalidRequestError("client_id is not the client authenticated.")
                # a wrong Basic secret must not fall through to a method Authlib tries next
                methods = [m for m in methods if m == "client_secret_basic"]
            client = super().authenticate_client(request, methods, endpoint)
            request.client = client  # (Authlib sets it once the grant is valid; a refusal names it too)
            return client
        except (InvalidClientError, InvalidRequestError) as error:
            claimed = basic_id or request.payload.client_id
            self.provider.audit.record(self.tenant.id, "client.authentication", outcome="failure",
                                       client_id=claimed if isinstance(claimed, str) else None,
                                       ip=http_request.remote_addr, endpoint=endpoint,
                                       reason=(error.description or "")[:200])
            if isinstance(error, InvalidRequestError):
                raise
            # Authlib's description lists every method the endpoint takes: the client knows its own.
            # Always a 401 (RFC 6749 5.2 allows it): Authlib answers 400 for an unknown client id
            # in the body and 401 for a known one with a wrong secret, which tells anyone which
            # client ids exist
            raise ClientAuthenticationFailed(self.provider.issuer(self.tenant)) from None

    def handle_error_response(self, request, error):
        # every code or refresh token the token endpoint refuses is on the trail, not only the
        # first replay: that one revokes the grant, and later tries find nothing (ASVS 16.3.3)
        if isinstance(error, InvalidGrantError) and request.payload.grant_type:
            client = getattr(request, "client", None)
            self.provider.audit.record(self.tenant.id, "token.refused", outcome="failure",
                                       client_id=client and client.client_id, ip=http_request.remote_addr,
                                       grant_type=str(request.payload.grant_type)[:40],
                                       reason=(error.description or "")[:200])
        return super().handle_error_response(request, error)

    def handle_response(self, status_code, payload, headers):
        # every answer of the token, introspection and revocation endpoints is a credential or
        # about one: never cached (RFC 6749 5.1, RFC 7662 2.2)
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        present = {name.lower() for name, _ in headers}
        return Response(body, status=status_code,
                        headers=[*headers, *(h for h in NO_STORE if h[0].lower() not in present)])

    def validate_requested_scope(self, scope):
        pass  # OIDC Core 3.1.2.1: unknown scopes are ignored; the client's registration filters them

    def send_signal(self, name, *args, **kwargs):
        pass  # no blinker subscribers; skipping it keeps the token path lean


class ClientAuthenticationFailed(InvalidClientError):
    """invalid_client, 401, with the Basic challenge's required realm (RFC 7617 2)."""

    status_code = 401

    def __init__(self, realm):
        super().__init__(description="Client authentication failed.")
        self.realm = realm

    def get_headers(self):
        return [(name, value.replace("Basic ", f'Basic realm="{self.realm}", ', 1) if name == "WWW-Authenticate"
                 else value) for name, value in super().get_headers()]


def _credentials_presented(request, header, basic_id, basic_secret) -> list[str]:
    """The ways the request tries to authenticate its client (`none` presents nothing; nor does
    a public client's library that sends its id in Basic with an empty secret, as in the body)."""
    used = []
    if header[:6].lower() == "basic " and (basic_secret or not basic_id or basic_id != request.payload.client_id):
        used.append("client_secret_basic")
    if "client_secret" in request.payload.data:
        used.append("client_secret_post")
    if "client_assertion" in request.payload.data or "client_assertion_type" in request.payload.data:
        used.append("private_key_jwt")
    return used


class EndpointRequest(OAuth2Request):
    """A Flask request as Authlib's endpoints read it. Authlib's own adapter rebuilds the full
    URL for every request and re-merges query and form on each parameter read, and Werkzeug's
    form parser builds a stream and parser per request (together about a fifth of a
    client_credentials request besides the signature, docs/BENCHMARKS.md); the endpoints only
    need the parameters, the headers and the transport check, done here on scheme and host as
    Authlib does it."""

    def __init__(self, req):
        # the transport check (InsecureTransportError) looks at scheme and host only; `uri`
        # holds just those, since nothing at these endpoints reads the rest
        super().__init__(req.method, f"{req.scheme}://{req.host}/", headers=req.headers)
        self._request = req
        # a GET's parameters are its query; a POST's its body alone (RFC 6749 3.2, 4.1.3: a
        # query string ends up in access logs, and RP-Initiated Logout posts a form)
        self._form = _urlencoded_form(req) if req.method != "GET" else MultiDict()
        datalist = dict((req.args if req.method == "GET" else self._form).lists())
        self.payload = BasicOAuth2Payload({name: values[0] for name, values in datalist.items()})
        self.payload._datalist = datalist

    @property
    def args(self):
        return self._request.args

    @property
    def form(self):
        return self._form


def _urlencoded_form(req) -> MultiDict:
    """The body parsed exactly as Werkzeug parses `application/x-www-form-urlencoded` (the only
    body these endpoints take), without its per-request stream and parser objects. The body is
    still read through `get_data`, so MAX_CONTENT_LENGTH applies (413)."""
    if req.mimetype != "application/x-www-form-urlencoded":
        return MultiDict()  # JSON, multipart: no parameters (RFC 6749 4.1.3, 6, RFC 7009 2.1, RFC 7662 2.1)
    if "form" in req.__dict__:
        return req.form  # already parsed (the stream is then read)
    try:
        return MultiDict(parse_qsl(req.get_data().decode(), keep_blank_values=True, errors="werkzeug.url_quote"))
    except ValueError:  # not UTF-8: Werkzeug's parser also yields an empty form
        return MultiDict()
