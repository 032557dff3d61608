"""The composition root: app factory, configuration, storage, Authlib wiring, endpoints, CLI."""
from .app import create_app

__all__ = ["create_app"]
