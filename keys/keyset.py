"""Key sets per tenant and their rotation cycle (DESIGN.md "Keys")."""
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from cryptography.exceptions import InvalidTag
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from .sealing import seal, unseal

# alg -> how to generate its key. RS256 is the OIDC default; ES256 and EdDSA per client.
ALGORITHMS = {
    "RS256": lambda params: RSAKey.generate_key(2048, parameters=params, private=True),
    "ES256": lambda params: ECKey.generate_key("P-256", parameters=params, private=True),
    "EdDSA": lambda params: OKPKey.generate_key("Ed25519", parameters=params, private=True),
}
_IMPORTERS = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
JWKS_MAX_AGE = 60  # seconds a JWKS response may be cached (Cache-Control)


class WrongMasterSecret(Exception):
    """The stored private keys were sealed under another IDP_SECRET_KEY."""


class KeyState(str, Enum):
    STAGED = "staged"    # published so verifiers cache it; not signing yet
    ACTIVE = "active"    # signs
    RETIRED = "retired"  # published until `retire_after`; kept a while longer for logout hints


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
    """First start: one active key per algorithm. A secret that cannot open the keys already
    stored stops here: carrying on would serve a JWKS whose keys nobody can sign with, and a
    rotation would seal new keys under the wrong secret."""
    keys = store.list_keys(tenant_id)
    for key in keys:
        if key.state in (KeyState.STAGED, KeyState.ACTIVE):
            try:
                unseal(master, key.sealed_private, f"{tenant_id}/{key.kid}")
            except (InvalidTag, ValueError):
                raise WrongMasterSecret(
                    f"IDP_SECRET_KEY does not open tenant {tenant_id!r}'s signing key {key.kid}: it is not the "
                    "secret the keys were sealed with (every instance and the idp command need the same one)"
                ) from None
    have = {k.alg for k in keys if k.state is KeyState.ACTIVE}
    for alg in ALGORITHMS.keys() - have:
        store.add_key(tenant_id, generate(tenant_id, alg, master, KeyState.ACTIVE, now))


def rotate(store: KeyStore, tenant_id: str, master: bytes, now: datetime, retention: timedelta,
           publish_first: timedelta = timedelta(0), keep_after: timedelta = timedelta(0)) -> str:
    """Advance the cycle one step: delete retired keys `keep_after` past their `retire_after`;
    then promote staged keys (retiring the keys they replace, published for `retention` more),
    or, when none is staged, stage new ones. Staged keys are promoted only once they have been
    published for `publish_first` ("waiting" until then): a token signed with a key that a
    worker or a relying party's cached JWKS lacks fails."""
    keys = store.list_keys(tenant_id)
    for key in keys:
        if key.state is KeyState.RETIRED and key.retire_after and key.retire_after + keep_after <= now:
            store.delete_key(tenant_id, key.kid)
    staged = [k for k in keys if k.state is KeyState.STAGED]
    if not staged:
        for alg in ALGORITHMS:
            store.add_key(tenant_id, generate(tenant_id, alg, master, KeyState.STAGED, now))
        return "staged"
    if promotable_at(staged, publish_first) > now:
        return "waiting"
    for new in staged:
        # the new key first: where each write commits alone (SQLite), a worker reloading between
        # the two finds two active keys for the alg (it signs with the older), never none
        store.set_state(tenant_id, new.kid, KeyState.ACTIVE, None)
        for old in keys:
            if old.alg == new.alg and old.state is KeyState.ACTIVE:
                store.set_state(tenant_id, old.kid, KeyState.RETIRED, now + retention)
    return "promoted"


def promotable_at(staged: list[SigningKey], publish_first: timedelta) -> datetime:
    return max(k.created_at for k in staged) + publish_first


def published(key: SigningKey, now: datetime) -> bool:
    """Staged and active keys, and retired ones until `retire_after` (no longer trusted for
    tokens from then on, and deleted at a rotation `keep_after` later)."""
    return key.state is not KeyState.RETIRED or key.retire_after is None or now < key.retire_after


class TenantKeys:
    """A tenant's keys ready for use: signing keys by alg, the published JWKS, a verifier set, and
    one for logout hints (every key still kept)."""

    def __init__(self, tenant_id: str, keys: list[SigningKey], master: bytes, now: datetime):
        published_keys = [k for k in keys if published(k, now)]
        self.jwks = {"keys": [k.public_jwk for k in published_keys]}
        self.jwks_json = json.dumps(self.jwks).encode()  # served as is: JWKS is a hot path
        self.verifier = KeySet.import_key_set(self.jwks)
        # an ID token a portal keeps as its logout's id_token_hint is valid past its exp for as
        # long as the session (RP-Initiated Logout 2): it names the user, it grants nothing, so a
        # key retired from tokens still verifies it until deleted
        self.hint_verifier = KeySet.import_key_set({"keys": [k.public_jwk for k in keys]})
        self.signing = {}
        for key in sorted(keys, key=lambda k: k.created_at):
            if key.state is KeyState.ACTIVE and key.alg not in self.signing:
                private = json.loads(unseal(master, key.sealed_private, f"{tenant_id}/{key.kid}"))
                self.signing[key.alg] = _IMPORTERS[private["kty"]].import_key(private)

    def signing_key(self, alg: str):
        return self.signing[alg]
