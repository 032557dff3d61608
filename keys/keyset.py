"""Key sets per tenant and their rotation cycle (DESIGN.md "Keys")."""
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from .sealing import seal, unseal

# alg -> how to generate its key. RS256 is the OIDC default; ES256 and EdDSA per client.
ALGORITHMS = {
    "RS256": lambda params: RSAKey.generate_key(2048, parameters=params, private=True),
    "ES256": lambda params: ECKey.generate_key("P-256", parameters=params, private=True),
    "EdDSA": lambda params: OKPKey.generate_key("Ed25519", parameters=params, private=True),
}
_IMPORTERS = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


class KeyState(str, Enum):
    STAGED = "staged"    # published so verifiers cache it; not signing yet
    ACTIVE = "active"    # signs
    RETIRED = "retired"  # published until `retire_after`, then deleted


@dataclass
class SigningKey:
    kid: str
    alg: str
    state: KeyState
    public_jwk: dict
    sealed_private: str
    created_at: datetime
    retire_after: datetime | None = None


class KeyStore(Protocol):
    """Durable storage of a tenant's keys (implemented in idp/ with SQL)."""

    def list_keys(self, tenant_id: str) -> list[SigningKey]: ...
    def add_key(self, tenant_id: str, key: SigningKey) -> None: ...
    def set_state(self, tenant_id: str, kid: str, state: KeyState, retire_after: datetime | None) -> None: ...
    def delete_key(self, tenant_id: str, kid: str) -> None: ...


def generate(tenant_id: str, alg: str, master: bytes, state: KeyState, now: datetime) -> SigningKey:
    kid = f"{alg.lower()}-{now:%Y%m%d}-{secrets.token_hex(4)}"
    key = ALGORITHMS[alg]({"kid": kid, "alg": alg, "use": "sig"})
    private = json.dumps(key.as_dict(private=True)).encode()
    return SigningKey(
        kid=kid, alg=alg, state=state, public_jwk=key.as_dict(private=False),
        sealed_private=seal(master, private, f"{tenant_id}/{kid}"), created_at=now,
    )


def ensure_keys(store: KeyStore, tenant_id: str, master: bytes, now: datetime) -> None:
    """First start: one active key per algorithm."""
    have = {k.alg for k in store.list_keys(tenant_id) if k.state is KeyState.ACTIVE}
    for alg in ALGORITHMS.keys() - have:
        store.add_key(tenant_id, generate(tenant_id, alg, master, KeyState.ACTIVE, now))


def rotate(store: KeyStore, tenant_id: str, master: bytes, now: datetime, retention: timedelta) -> str:
    """Advance the cycle one step: delete expired retired keys; then promote staged keys
    (retiring the keys they replace), or, when none is staged, stage new ones."""
    keys = store.list_keys(tenant_id)
    for key in keys:
        if key.state is KeyState.RETIRED and key.retire_after and key.retire_after <= now:
            store.delete_key(tenant_id, key.kid)
    staged = [k for k in keys if k.state is KeyState.STAGED]
    if not staged:
        for alg in ALGORITHMS:
            store.add_key(tenant_id, generate(tenant_id, alg, master, KeyState.STAGED, now))
        return "staged"
    for new in staged:
        for old in keys:
            if old.alg == new.alg and old.state is KeyState.ACTIVE:
                store.set_state(tenant_id, old.kid, KeyState.RETIRED, now + retention)
        store.set_state(tenant_id, new.kid, KeyState.ACTIVE, None)
    return "promoted"


class TenantKeys:
    """A tenant's keys ready for use: signing keys by alg, the published JWKS, a verifier set."""

    def __init__(self, tenant_id: str, keys: list[SigningKey], master: bytes):
        published = [k for k in keys if k.state in (KeyState.STAGED, KeyState.ACTIVE, KeyState.RETIRED)]
        self.jwks = {"keys": [k.public_jwk for k in published]}
        self.jwks_json = json.dumps(self.jwks).encode()  # served as is: JWKS is a hot path
        self.verifier = KeySet.import_key_set(self.jwks)
        self.signing = {}
        for key in sorted(keys, key=lambda k: k.created_at):
            if key.state is KeyState.ACTIVE and key.alg not in self.signing:
                private = json.loads(unseal(master, key.sealed_private, f"{tenant_id}/{key.kid}"))
                self.signing[key.alg] = _IMPORTERS[private["kty"]].import_key(private)

    def signing_key(self, alg: str):
        return self.signing[alg]
