"""The audit trail: every security event, who, what, when, from where, and why."""
import hashlib
import hmac
import logging
from datetime import datetime, timezone

from flask import g, has_request_context, request
from sqlalchemy import insert, select

from .accounts import username_key
from .storage.models import AuditEvent

log = logging.getLogger("idp.audit")


class SqlAudit:
    def __init__(self, database):
        self.database = database
        self._insert = insert(AuditEvent.__table__)  # built once: audit is on every sign-in

    def record(self, tenant_id, event, *, outcome="success", subject=None, actor=None,
               client_id=None, ip=None, **detail):
        if has_request_context():  # from where, and for which portal, unless the caller says
            ip, client_id = ip or request.remote_addr, client_id or g.get("client_id")
        # who and from where may come from outside (an operator's --actor, a proxy's address):
        # cut to the columns, so that recording an event never fails the action it records
        row = dict(tenant_id=tenant_id, at=datetime.now(timezone.utc), event=event, outcome=outcome,
                   subject=_fit(subject, 128), actor=_fit(actor, 128), client_id=_fit(client_id, 128),
                   ip=_fit(ip, 64), detail=detail)
        # a Core insert: an ORM unit of work costs more than the row
        with self.database.engine.begin() as connection:
            connection.execute(self._insert, row)
        log.info("%s %s %s subject=%s client=%s ip=%s %s", tenant_id, event, outcome, row["subject"],
                 row["client_id"], row["ip"], detail)

    def events(self, tenant_id, subject=None, event=None):
        stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        if subject:
            stmt = stmt.where(AuditEvent.subject == subject)
        if event:
            stmt = stmt.where(AuditEvent.event == event)
        with self.database.session() as s:
            return list(s.scalars(stmt))


def typed_name(master: bytes, username: str) -> str:
    """A user ID typed at a sign-in that matched no account, as the trail keeps it: keyed-hashed,
    since people type their password into the user ID field. The same ID (in any case) always
    gives the same value, so attempts on one ID can still be counted and looked up."""
    key = username_key(username).encode("utf-8", "surrogatepass")
    return "typed:" + hmac.new(master, b"audit:" + key, hashlib.sha256).hexdigest()[:32]


def _fit(value, length: int):
    # and without NUL, which PostgreSQL refuses in text (a client id from a Basic header may hold one)
    return value.replace("\x00", "")[:length] if isinstance(value, str) else value
