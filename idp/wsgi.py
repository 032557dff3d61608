"""WSGI entry point for production servers: `granian --interface wsgi idp.wsgi:app`."""
from . import create_app
from .views.protocol import WellKnownCache

app = create_app()
# discovery and JWKS replayed without a Flask request context (docs/BENCHMARKS.md)
app.wsgi_app = WellKnownCache(app.wsgi_app, app.extensions["idp"])
