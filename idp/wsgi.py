"""WSGI entry point for production servers: `granian --interface wsgi idp.wsgi:app`."""
from . import create_app

app = create_app()
