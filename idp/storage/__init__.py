"""Durable storage (SQLAlchemy 2 + Alembic) and the ephemeral store implementations."""
