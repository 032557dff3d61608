"""WSGI entry point for production servers: `granian --interface wsgi idp.wsgi:app`.

IDP_PROXY_HOPS=N (default 0): the number of reverse proxies in front (a TLS terminator is one);
their X-Forwarded-For and X-Forwarded-Proto are then trusted, so the client's address reaches the
audit trail and requests that arrived over HTTPS count as such (docs/OPERATIONS.md).
"""
from werkzeug.middleware.proxy_fix import ProxyFix

from . import create_app
from .views.protocol import WellKnownCache

app = create_app()
# discovery and JWKS replayed without a Flask request context (docs/BENCHMARKS.md)
app.wsgi_app = WellKnownCache(app.wsgi_app, app.extensions["idp"])
_hops = app.extensions["idp"].settings["IDP_PROXY_HOPS"]
if _hops:
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=_hops, x_proto=_hops)
