"""Ephemeral store implementations of `flows.ports.EphemeralStore`: Redis (production) and SQL
(the embedded default, a table in the durable database with an expiry column)."""
import hashlib

from ..text import encodes

MAX_ID = 128  # the SQL table's id column
ACCOUNT_GRANT = "account_grant"  # a grant listed under its account, for revoke_account_grants


def account_grants(account_id: str) -> str:
    """The family an account's grants are listed in (one entry per grant, named by its id)."""
    return f"grants:{account_id}"


def fit_id(id: str) -> str:
    """An entry id as both stores can hold it. Ids come partly from what users type (a user ID
    in a failure counter, a client's jti): one too long for the column, or with a NUL (which
    PostgreSQL refuses) or a lone surrogate (which no UTF-8 encoder takes), is stored by its hash."""
    if len(id) <= MAX_ID and "\x00" not in id and encodes(id):
        return id
    return "sha256:" + hashlib.sha256(id.encode("utf-8", "surrogatepass")).hexdigest()


def open_store(settings: dict, database):
    if settings.get("IDP_REDIS_URL"):
        from .redis_store import RedisStore
        return RedisStore.from_url(settings["IDP_REDIS_URL"])
    from .sql_store import SqlStore
    return SqlStore(database.engine)
