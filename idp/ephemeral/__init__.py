"""Ephemeral store implementations of `flows.ports.EphemeralStore`: Redis (production) and SQL
(the embedded default, a table in the durable database with an expiry column)."""


def open_store(settings: dict, database):
    if settings.get("IDP_REDIS_URL"):
        from .redis_store import RedisStore
        return RedisStore.from_url(settings["IDP_REDIS_URL"])
    from .sql_store import SqlStore
    return SqlStore(database.engine)
