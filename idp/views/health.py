"""Health for load balancers and orchestrators (Keycloak's /health/live and /health/ready):
live while the process answers; ready while it can serve, i.e. both stores answer and every
tenant's signing keys open. Only UP or DOWN per check: the reason goes to the log."""
import json
import logging

from flask import Blueprint, Response
from sqlalchemy import text

from keys import ALGORITHMS
from ..storage.db import SQLITE_BUSY_MS
from . import provider

bp = Blueprint("health", __name__, url_prefix="/health")
log = logging.getLogger(__name__)


@bp.get("/live")
def live():
    return _answer({"status": "UP"}, 200)


@bp.get("/ready")
def ready():
    p = provider()
    checks = {
        "database": _check("database", lambda: _schema_version(p.database.engine)),
        "ephemeral_store": _check("ephemeral store", p.store.ping),
        "signing_keys": _check("signing keys", lambda: [p.keys.get(tenant_id).signing_key(alg)
                                                        for tenant_id in p.tenants for alg in ALGORITHMS]),
    }
    up = all(state == "UP" for state in checks.values())
    return _answer({"status": "UP" if up else "DOWN", "checks": checks}, 200 if up else 503)


def _schema_version(engine):
    # a table of ours, not SELECT 1: SQLite answers that from a new empty file in a deleted one's place
    with engine.connect() as connection:
        connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        if engine.dialect.name == "sqlite":
            _writable(connection)


def _writable(connection):
    """SQLite reads on while another process holds the write lock, and every sign-in writes: ready
    only if a write could start within a second (taken and given back at once)."""
    connection.commit()  # the read above began a transaction
    connection.exec_driver_sql("PRAGMA busy_timeout=1000")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        connection.exec_driver_sql("ROLLBACK")
    finally:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


def _check(name, probe) -> str:
    try:
        probe()
    except Exception as error:  # noqa: BLE001 - whatever fails, the instance must not get traffic
        # one line: a probe every few seconds while a store is down
        first_line = next(iter(str(error).splitlines()), "")
        log.warning("health: %s is down: %s: %s", name, type(error).__name__, first_line)
        return "DOWN"
    return "UP"


def _answer(body: dict, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"Cache-Control": "no-store"})
