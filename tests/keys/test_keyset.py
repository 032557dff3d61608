"""Key sets and their rotation cycle (keys/keyset.py, DESIGN.md "Keys"): stage -> promote ->
retire -> delete, on the in-memory store and on the SQL store the provider uses."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.exceptions import InvalidTag
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from keys import ALGORITHMS, KeyState, TenantKeys, WrongMasterSecret, ensure_keys, rotate
from keys.jose import REGISTRY
from keys.keyset import generate
from keys.sealing import unseal

MASTER = b"test-master-secret-0123456789abcdef"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
RETENTION = timedelta(hours=1)


def tenant_keys(store, tenant="kwsp", now=T0):
    return TenantKeys(tenant, store.list_keys(tenant), MASTER, now)


def kids(store, state=None, tenant="kwsp"):
    return {k.kid for k in store.list_keys(tenant) if state is None or k.state is state}


def sign(keys: TenantKeys, alg="RS256", **claims) -> str:
    key = keys.signing_key(alg)
    return jwt.encode({"alg": alg, "kid": key.kid}, {"sub": "a-1", **claims}, key, algorithms=[alg], registry=REGISTRY)


def verifies(token: str, jwks: dict) -> bool:
    try:
        jwt.decode(token, KeySet.import_key_set(jwks), algorithms=list(ALGORITHMS), registry=REGISTRY)
        return True
    except (JoseError, ValueError):
        return False


def test_generated_key_publishes_no_private_part():
    key = generate("kwsp", "ES256", MASTER, KeyState.STAGED, T0)
    assert key.public_jwk["kid"] == key.kid and key.public_jwk["alg"] == "ES256"
    assert key.public_jwk["use"] == "sig"
    assert "d" not in key.public_jwk
    private = json.loads(unseal(MASTER, key.sealed_private, f"kwsp/{key.kid}"))
    assert private["d"] and private["kid"] == key.kid


def test_ensure_keys_makes_one_active_key_per_algorithm_once(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    first = {k.kid: (k.alg, k.state) for k in key_store.list_keys("kwsp")}
    assert sorted(alg for alg, _ in first.values()) == sorted(ALGORITHMS)
    assert {state for _, state in first.values()} == {KeyState.ACTIVE}

    ensure_keys(key_store, "kwsp", MASTER, T0 + timedelta(days=1))
    assert {k.kid: (k.alg, k.state) for k in key_store.list_keys("kwsp")} == first
    assert key_store.list_keys("perkeso") == []  # per tenant


def test_ensure_keys_leaves_a_rotation_in_progress_alone(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    rotate(key_store, "kwsp", MASTER, T0, RETENTION)
    before = kids(key_store)
    ensure_keys(key_store, "kwsp", MASTER, T0)
    assert kids(key_store) == before


def test_tenant_keys_publish_staged_active_and_retired_and_sign_with_active(key_store):
    staged = generate("kwsp", "RS256", MASTER, KeyState.STAGED, T0 + timedelta(minutes=2))
    active = generate("kwsp", "RS256", MASTER, KeyState.ACTIVE, T0 + timedelta(minutes=1))
    retired = generate("kwsp", "RS256", MASTER, KeyState.RETIRED, T0)
    for key in (staged, active, retired):
        key_store.add_key("kwsp", key)

    keys = tenant_keys(key_store)
    assert {k["kid"] for k in keys.jwks["keys"]} == {staged.kid, active.kid, retired.kid}
    assert all("d" not in k for k in keys.jwks["keys"])
    assert json.loads(keys.jwks_json) == keys.jwks
    assert keys.signing_key("RS256").kid == active.kid
    with pytest.raises(KeyError):
        keys.signing_key("ES256")  # no active ES256 key: never sign with a staged one


@pytest.mark.parametrize("alg", list(ALGORITHMS))
def test_each_algorithm_signs_with_its_own_active_key(key_store, alg):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    keys = tenant_keys(key_store)
    token = sign(keys, alg)
    header = jwt.decode(token, keys.verifier, algorithms=[alg], registry=REGISTRY).header
    active = {k.alg: k.kid for k in key_store.list_keys("kwsp")}
    assert header["kid"] == active[alg] and header["alg"] == alg


def test_rotation_cycle(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    gen1 = kids(key_store, KeyState.ACTIVE)
    before = tenant_keys(key_store)
    old_token = sign(before, "RS256")

    # 1. stage: published so verifiers cache them, signing unchanged
    assert rotate(key_store, "kwsp", MASTER, T0, RETENTION) == "staged"
    gen2 = kids(key_store, KeyState.STAGED)
    assert len(gen2) == len(ALGORITHMS) and not gen2 & gen1
    staged = tenant_keys(key_store)
    assert {k["kid"] for k in staged.jwks["keys"]} == gen1 | gen2
    assert {a: staged.signing_key(a).kid for a in ALGORITHMS} == {a: before.signing_key(a).kid for a in ALGORITHMS}

    # 2. promote: the new keys sign, the old ones retire but stay published
    assert rotate(key_store, "kwsp", MASTER, T0 + timedelta(minutes=10), RETENTION) == "promoted"
    assert kids(key_store, KeyState.ACTIVE) == gen2
    assert kids(key_store, KeyState.RETIRED) == gen1
    assert {k.retire_after for k in key_store.list_keys("kwsp") if k.kid in gen1} == \
        {T0 + timedelta(minutes=10) + RETENTION}
    promoted = tenant_keys(key_store)
    assert {promoted.signing_key(a).kid for a in ALGORITHMS} == gen2
    assert verifies(old_token, promoted.jwks)  # a token signed before rotation still verifies
    assert verifies(sign(promoted, "ES256"), promoted.jwks)

    # 3. before retire_after the retired keys stay (the next call stages a new generation)
    assert rotate(key_store, "kwsp", MASTER, T0 + timedelta(minutes=30), RETENTION) == "staged"
    assert kids(key_store, KeyState.RETIRED) == gen1
    gen3 = kids(key_store, KeyState.STAGED)

    # 4. after retire_after they are deleted; gen3 is promoted and gen2 retires
    later = T0 + timedelta(minutes=10) + RETENTION + timedelta(seconds=1)
    assert rotate(key_store, "kwsp", MASTER, later, RETENTION) == "promoted"
    assert not kids(key_store) & gen1
    assert kids(key_store, KeyState.ACTIVE) == gen3
    assert kids(key_store, KeyState.RETIRED) == gen2
    final = tenant_keys(key_store)
    assert gen1.isdisjoint(k["kid"] for k in final.jwks["keys"])
    assert not verifies(old_token, final.jwks)  # its key is gone once every such token has expired


def test_rotation_is_per_tenant(key_store):
    for tenant in ("kwsp", "perkeso"):
        ensure_keys(key_store, tenant, MASTER, T0)
    perkeso = kids(key_store, tenant="perkeso")
    rotate(key_store, "kwsp", MASTER, T0, RETENTION)
    rotate(key_store, "kwsp", MASTER, T0, RETENTION)
    assert kids(key_store, tenant="perkeso") == perkeso
    assert kids(key_store, KeyState.ACTIVE, tenant="perkeso") == perkeso


def test_a_key_sealed_for_another_tenant_does_not_load(key_store):
    key = generate("perkeso", "RS256", MASTER, KeyState.ACTIVE, T0)
    key_store.add_key("kwsp", key)  # a row moved between tenants
    with pytest.raises(InvalidTag):
        tenant_keys(key_store)


def test_staged_keys_wait_until_they_have_been_published_long_enough(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    delay = timedelta(seconds=90)
    assert rotate(key_store, "kwsp", MASTER, T0, RETENTION, publish_first=delay) == "staged"
    staged = kids(key_store, KeyState.STAGED)
    assert rotate(key_store, "kwsp", MASTER, T0 + delay - timedelta(seconds=1), RETENTION, publish_first=delay) \
        == "waiting"
    assert kids(key_store, KeyState.STAGED) == staged  # nothing changed
    assert rotate(key_store, "kwsp", MASTER, T0 + delay, RETENTION, publish_first=delay) == "promoted"
    assert kids(key_store, KeyState.ACTIVE) == staged


def test_a_retired_key_leaves_the_jwks_at_its_retire_after(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    gen1 = kids(key_store, KeyState.ACTIVE)
    rotate(key_store, "kwsp", MASTER, T0, RETENTION)
    rotate(key_store, "kwsp", MASTER, T0, RETENTION)  # gen1 retires until T0 + RETENTION
    published = lambda now: {k["kid"] for k in tenant_keys(key_store, now=now).jwks["keys"]}  # noqa: E731
    assert gen1 <= published(T0 + RETENTION - timedelta(seconds=1))
    assert not gen1 & published(T0 + RETENTION)  # no rotation has deleted them yet
    assert gen1 <= kids(key_store, KeyState.RETIRED)


def test_ensure_keys_refuses_a_secret_that_does_not_open_the_stored_keys(key_store):
    ensure_keys(key_store, "kwsp", MASTER, T0)
    before = kids(key_store)
    with pytest.raises(WrongMasterSecret, match="IDP_SECRET_KEY does not open tenant 'kwsp'"):
        ensure_keys(key_store, "kwsp", b"another-master-secret-0123456789ab", T0)
    assert kids(key_store) == before
