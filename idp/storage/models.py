"""Durable tables. Every row belongs to one tenant; uniqueness is per tenant."""
from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend. SQLite drops the offset, and policies (and
    key rotation) compare stored times with aware `now` values, so naive values never come back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: store timezone-aware values only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON}


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "username_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    username: Mapped[str] = mapped_column(String(128))
    # casefolded username: sign-in is case-insensitive and a username is never reused
    username_key: Mapped[str] = mapped_column(String(128))
    identity_type: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    password_hash: Mapped[str | None] = mapped_column(Text)
    password_history: Mapped[list] = mapped_column(JSON, default=list)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # hashed one-time credential (temporary password: argon2; activation code: keyed HMAC)
    activation_secret: Mapped[str | None] = mapped_column(Text)
    activation_deadline: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    name: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(20))
    national_id: Mapped[str | None] = mapped_column(String(32))
    member_number: Mapped[str | None] = mapped_column(String(32))
    employer_number: Mapped[str | None] = mapped_column(String(32))
    organisation_id: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(8))
    totp_secret: Mapped[str | None] = mapped_column(Text)  # sealed (keys.sealing), never plain
    # keyed hashes of the unused one-time recovery codes
    totp_recovery_codes: Mapped[list | None] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # employer | dialysis_centre
    number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))


class Client(Base):
    __tablename__ = "clients"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # keyed HMAC of a high-entropy secret (fast by design: the secret is not a password)
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    client_metadata: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict] = mapped_column(JSON)
    sealed_private: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    retire_after: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_tenant_subject", "tenant_id", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(128))
    subject: Mapped[str | None] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class EphemeralEntry(Base):
    """The embedded ephemeral store: every entry has an expiry; counters live here too."""

    __tablename__ = "ephemeral"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payload: Mapped[str | None] = mapped_column(Text)
    counter: Mapped[int] = mapped_column(Integer, default=0)
    grant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[float] = mapped_column(index=True)
