"""Signing keys per tenant: generate, encrypt at rest, rotate, publish as JWKS.

Rotation is stage (published, not signing) -> promote (signing) -> retire (published until every
token it signed has expired) -> delete. The first active key of an algorithm signs; every
published key verifies.
"""
from .keyset import (
    ALGORITHMS, JWKS_MAX_AGE, KeyState, KeyStore, SigningKey, TenantKeys, WrongMasterSecret, ensure_keys,
    promotable_at, published, rotate,
)

__all__ = ["ALGORITHMS", "JWKS_MAX_AGE", "KeyState", "KeyStore", "SigningKey", "TenantKeys", "WrongMasterSecret",
           "ensure_keys", "promotable_at", "published", "rotate"]
