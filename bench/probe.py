"""The floor under our client_credentials row: bare Flask + Authlib, nothing else.

The issue's probe, kept so every `make bench` measures it beside ours and the peer: Authlib's
ClientCredentialsGrant behind Flask, one in-memory client (client_secret_basic), RS256 JWT access
tokens with a key made at start, the same claims as ours. No tenants, database, audit, security
headers or input checks. Served by granian exactly as `idp serve --production` serves ours;
`idp` is not imported.

    cd bench && granian --interface wsgi --workers 2 --blocking-threads 1 --port 8002 probe:app
"""
import secrets
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID, SECRET = "bench-client", "bench-secret-0123456789"
ISSUER = "http://127.0.0.1:8002/t/kwsp"
KEY = RSAKey.generate_key(2048, parameters={"kid": "probe"})


class Client(ClientMixin):
    client_id = CLIENT_ID

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, SECRET)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


def access_token(client, grant_type, user, scope):
    now = int(time.time())
    claims = {"iss": ISSUER, "exp": now + 300, "iat": now, "jti": secrets.token_urlsafe(16),
              "client_id": client.client_id, "aud": client.client_id, "scope": scope, "sub": client.client_id}
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": "probe"}, claims, KEY)


app = Flask(__name__)
server = AuthorizationServer(app, query_client=lambda client_id: Client() if client_id == CLIENT_ID else None,
                             save_token=lambda token, request: None)
server.register_token_generator("default", BearerTokenGenerator(access_token, None, lambda client, grant: 300))
server.register_grant(grants.ClientCredentialsGrant)


@app.post("/t/kwsp/token")
def token():
    return server.create_token_response()


@app.get("/ready")
def ready():
    return "ok"
