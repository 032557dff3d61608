"""Shared fixtures: an app from `create_app({...})` on a fresh SQLite database."""
import pytest

from idp import create_app
from tests.helpers import make_user, register_client


@pytest.fixture
def settings(tmp_path):
    return {
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
        "IDP_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "IDP_PUBLIC_URL": "http://127.0.0.1:8000",
        "IDP_OUTBOX_DIR": str(tmp_path / "outbox"),
        "IDP_CLIENT_CACHE_SECONDS": 0.0,
    }


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def provider(app):
    return app.extensions["idp"]


@pytest.fixture
def browser(app):
    return app.test_client()


@pytest.fixture
def rp(provider):
    """A confidential kwsp client with every grant (secret: tests.helpers.SECRET)."""
    return register_client(provider)


@pytest.fixture
def user(provider):
    return make_user(provider)
