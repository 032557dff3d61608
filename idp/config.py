"""Deployment settings, read from the environment (all prefixed IDP_) or a test config dict.

IDP_DATABASE_URL   SQLAlchemy URL; default SQLite under instance/ (PostgreSQL: postgresql+psycopg://...)
IDP_REDIS_URL      Redis for the ephemeral store (redis+sentinel://... through Sentinel); unset = the
                   embedded SQL-backed store
IDP_TENANTS_DIR    tenant definitions; default tenants/definitions/
IDP_SECRET_KEY     master secret for cookies, code hashing and keys at rest; generated into instance/
IDP_PUBLIC_URL     external base URL; default http://127.0.0.1:8000
IDP_SMS_BACKEND / IDP_EMAIL_BACKEND   'outbox' (default): JSON lines in IDP_OUTBOX_DIR
IDP_OUTBOX_DIR     default instance/outbox
IDP_PROXY_HOPS     reverse proxies in front whose X-Forwarded-For/-Proto are trusted; default 0
"""
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
MIN_SECRET = 32  # characters of IDP_SECRET_KEY


DATABASE_FILE = "idp.sqlite3"  # the embedded database, in the instance directory


def instance_path() -> Path:
    return Path(os.environ.get("IDP_INSTANCE_DIR") or Path.cwd() / "instance")


def instance_dir() -> Path:
    path = instance_path()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(instance: Path) -> str:
    """The master secret: from the environment, or generated once into instance/ (mode 0600)."""
    if os.environ.get("IDP_SECRET_KEY"):
        return os.environ["IDP_SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        # written whole under a name of its own, then linked into place: of workers started
        # together (in one machine or several sharing the directory) the first one's secret
        # wins, and none reads a file half written
        fd, draft = tempfile.mkstemp(prefix=".secret_key.", dir=instance)  # mode 0600
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET:
        raise ValueError(f"{path} holds no usable secret (at least {MIN_SECRET} characters); remove it or set "
                         "IDP_SECRET_KEY")
    return secret


def public_url(value: str) -> str:
    """The external base URL the issuers are built on: https (OIDC Discovery 3), http only on
    loopback; no path (pages link to /t/<tenant>/... on the host), query, fragment or user."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        parts = None
    loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "::1")
    # written back from its parts: what urlsplit drops or strips (a bare "?" or "#", spaces, a
    # tab or line break) must not reach the issuer unchecked
    if parts is None or not parts.hostname or parts.scheme not in ("https", "http") \
            or (parts.scheme == "http" and not loopback) or parts.username is not None \
            or value.rstrip("/") != f"{parts.scheme}://{parts.netloc}":
        raise ValueError(f"IDP_PUBLIC_URL {value!r} must be https://<host>[:port] with nothing after the host "
                         "(http:// only on loopback), e.g. https://login.example.gov.my")
    return f"{parts.scheme}://{parts.netloc}"


def _proxy_hops(value) -> int:
    text = str(value or 0)
    if not (text.isascii() and text.isdigit() and int(text) <= 10):
        raise ValueError(f"IDP_PROXY_HOPS {text!r} must be the number of proxies in front (0-10)")
    return int(text)


def load_settings(overrides: dict | None = None) -> dict:
    overrides = overrides or {}
    instance = Path(overrides.get("IDP_INSTANCE_DIR") or instance_dir())
    instance.mkdir(parents=True, exist_ok=True)
    env = os.environ.get
    settings = {
        "IDP_INSTANCE_DIR": str(instance),
        "IDP_DATABASE_URL": env("IDP_DATABASE_URL") or f"sqlite:///{instance / DATABASE_FILE}",
        "IDP_REDIS_URL": env("IDP_REDIS_URL") or None,
        "IDP_TENANTS_DIR": env("IDP_TENANTS_DIR") or None,
        "IDP_PUBLIC_URL": env("IDP_PUBLIC_URL") or DEFAULT_PUBLIC_URL,
        "IDP_PROXY_HOPS": env("IDP_PROXY_HOPS"),
        "IDP_SMS_BACKEND": env("IDP_SMS_BACKEND") or "outbox",
        "IDP_EMAIL_BACKEND": env("IDP_EMAIL_BACKEND") or "outbox",
        "IDP_OUTBOX_DIR": env("IDP_OUTBOX_DIR") or str(instance / "outbox"),
        # Seconds a client registration is cached in a worker (the CLI writes straight to SQL).
        "IDP_CLIENT_CACHE_SECONDS": 5.0,
        # Seconds between checks for rotated signing keys.
        "IDP_KEY_REFRESH_SECONDS": 30.0,
    }
    settings.update(overrides)
    settings["IDP_PUBLIC_URL"] = public_url(settings["IDP_PUBLIC_URL"])
    settings["IDP_PROXY_HOPS"] = _proxy_hops(settings["IDP_PROXY_HOPS"])
    if not settings.get("IDP_SECRET_KEY"):
        settings["IDP_SECRET_KEY"] = _secret_key(instance)
    if len(settings["IDP_SECRET_KEY"]) < MIN_SECRET:  # it seals the signing keys: no short one, from anywhere
        raise ValueError(f"IDP_SECRET_KEY is too short (at least {MIN_SECRET} characters)")
    return settings
