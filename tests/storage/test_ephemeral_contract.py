"""The one contract every ephemeral store meets (flows/ports.py `EphemeralStore`, DESIGN.md
"Storage"): the SQL store on SQLite and on PostgreSQL, and the Redis store on a real redis-server."""
import threading
import time
import uuid

import pytest
import redis
from sqlalchemy.exc import OperationalError

from flows.ports import REVOKED, ROTATED, SPENT, Successor
from idp.ephemeral import account_grants
from idp.ephemeral.redis_store import RedisStore
from idp.ephemeral.sql_store import SqlStore
from idp.storage.db import make_engine, migrate
from idp.storage.models import EphemeralEntry

TTL = 0.2  # short, so expiry is observable quickly
LONG = 30


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('ephemeral') / 'store.sqlite3'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgres_engine(postgres):
    engine = make_engine(postgres.create())
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def backend(request):
    return request.param


@pytest.fixture
def store(backend, request):
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
        store = RedisStore.from_url(url, prefix=f"t-{uuid.uuid4().hex}:")  # isolated per test
        yield store
        store.r.close()
        return
    engine = request.getfixturevalue(f"{backend}_engine")
    with engine.begin() as conn:
        conn.execute(EphemeralEntry.__table__.delete())
    yield SqlStore(engine)


def run_together(n, work):
    """Run `work()` in n threads released at the same moment; return their results."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i):
        try:
            barrier.wait()
            results[i] = work()
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_put_then_get_returns_the_payload(store):
    payload = {"account_id": "a-1", "amr": ["pwd"], "nested": {"n": 1.5, "ok": True}, "name": "Siti Nurhaliza"}
    store.put("session", "s1", payload, LONG)
    assert store.get("session", "s1") == payload


def test_get_of_an_unknown_entry_is_none(store):
    assert store.get("session", "missing") is None
    assert store.consume("session", "missing") is None


def test_kinds_are_separate_namespaces(store):
    store.put("session", "x", {"v": "session"}, LONG)
    store.put("interaction", "x", {"v": "interaction"}, LONG)
    assert store.get("session", "x") == {"v": "session"}
    assert store.consume("interaction", "x") == {"v": "interaction"}
    assert store.get("session", "x") == {"v": "session"}


def test_entries_expire_after_their_ttl(store):
    store.put("code", "c1", {"v": 1}, TTL)
    store.put("code", "c2", {"v": 2}, TTL)
    store.put("code", "kept", {"v": 3}, LONG)
    assert store.get("code", "c1") == {"v": 1}
    time.sleep(TTL + 0.15)
    assert store.get("code", "c1") is None
    assert store.consume("code", "c2") is None  # an expired code cannot be redeemed
    assert store.get("code", "kept") == {"v": 3}


def test_put_overwrites_payload_and_ttl(store):
    store.put("interaction", "i1", {"stage": 0}, TTL)
    store.put("interaction", "i1", {"stage": 1}, LONG)
    time.sleep(TTL + 0.15)
    assert store.get("interaction", "i1") == {"stage": 1}
    store.put("interaction", "i1", {"stage": 2}, TTL)  # a shorter TTL replaces a longer one too
    time.sleep(TTL + 0.15)
    assert store.get("interaction", "i1") is None


def test_replace_overwrites_a_live_entry_only(store):
    store.put("session", "s1", {"v": 1}, TTL, grant_id="sessions:a-1")
    assert store.replace("session", "s1", {"v": 2}, LONG) is True
    time.sleep(TTL + 0.15)
    assert store.get("session", "s1") == {"v": 2}  # with the new TTL
    assert store.replace("session", "never-there", {"v": 1}, LONG) is False
    assert store.get("session", "never-there") is None
    store.put("session", "s2", {"v": 1}, TTL)
    time.sleep(TTL + 0.15)
    assert store.replace("session", "s2", {"v": 2}, LONG) is False  # an expired entry stays gone
    assert store.get("session", "s2") is None


def test_replace_expecting_what_was_read_leaves_a_write_made_meanwhile(store):
    store.put("session_sid", "k:s1", {"seen_at": 1.5, "expires_at": 100}, LONG, grant_id="sessions:a-3")
    read = store.get("session_sid", "k:s1")
    store.put("session_sid", "k:s1", {"seen_at": 2.25, "expires_at": 200}, LONG, grant_id="sessions:a-3")  # meanwhile
    assert store.replace("session_sid", "k:s1", {**read, "seen_at": 3.0}, LONG, expect=read) is False
    assert store.get("session_sid", "k:s1") == {"seen_at": 2.25, "expires_at": 200}
    now = store.get("session_sid", "k:s1")
    assert store.replace("session_sid", "k:s1", {**now, "seen_at": 3.0}, TTL, expect=now) is True
    assert store.get("session_sid", "k:s1") == {"seen_at": 3.0, "expires_at": 200}
    time.sleep(TTL + 0.15)
    assert store.get("session_sid", "k:s1") is None  # with the new TTL
    assert store.replace("session_sid", "k:s1", now, LONG, expect=now) is False  # gone: not brought back


def test_a_replaced_entry_stays_in_its_family(store):
    store.put("session", "s1", {"v": 1}, LONG, grant_id="sessions:a-2")
    store.replace("session", "s1", {"v": 2}, LONG)
    assert store.revoke_family("sessions:a-2", mark_ttl=1) == 1
    assert store.get("session", "s1") is None
    assert store.replace("session", "s1", {"v": 3}, LONG) is False  # ended: not brought back


@pytest.mark.parametrize("odd", ["u" * 300, "signin:kwsp:a\x00b", "jti:\ud800", "x" * 128])
def test_any_id_a_user_can_type_is_an_id(store, odd):
    # ids come partly from user input (a user ID in a failure counter, a client's jti)
    store.put("code", odd, {"v": 1}, LONG)
    assert store.get("code", odd) == {"v": 1}
    assert store.get("code", odd[:-1] + "?") is None  # a look-alike is another entry
    assert store.incr(odd, LONG) == 1 and store.incr(odd, LONG) == 2
    assert store.retire("code", odd, "code_used") == {"v": 1} and store.get("code_used", odd) == {"v": 1}
    store.delete("code_used", odd)
    assert store.get("code_used", odd) is None


def test_consume_returns_the_entry_exactly_once(store):
    store.put("code", "c1", {"sub": "a-1"}, LONG)
    assert store.consume("code", "c1") == {"sub": "a-1"}
    assert store.consume("code", "c1") is None
    assert store.get("code", "c1") is None


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_consumers_only_one_wins(store, round_):
    # an authorization code replayed in parallel must be redeemed once (RFC 6749 4.1.2)
    store.put("code", "race", {"round": round_}, LONG)
    results = run_together(20, lambda: store.consume("code", "race"))
    winners = [r for r in results if r is not None]
    assert winners == [{"round": round_}]


def test_retire_moves_the_entry_to_its_tombstone_exactly_once(store):
    store.put("refresh", "r1", {"client_id": "portal"}, LONG, grant_id="g1")
    assert store.retire("refresh", "r1", "refresh_used") == {"client_id": "portal"}
    assert store.get("refresh", "r1") is None
    assert store.get("refresh_used", "r1") == {"client_id": "portal"}
    assert store.retire("refresh", "r1", "refresh_used") is None  # a replay finds only the tombstone
    assert store.retire("refresh", "never-issued", "refresh_used") is None
    assert store.get("refresh_used", "never-issued") is None


def test_a_tombstone_stays_in_its_grants_family(store):
    # revoking the grant ends the tombstone too, as it would have ended the entry
    store.put("code", "c1", {"client_id": "portal"}, LONG, grant_id="g1")
    assert store.retire("code", "c1", "code_used", ttl=LONG, client_id="portal", grant_id="g1") is not None
    assert store.family("g1") == [{"client_id": "portal"}]
    store.revoke_family("g1", mark_ttl=LONG)
    assert store.get("code_used", "c1") is None


def test_retire_back_restores_the_entry(store):
    store.put("refresh", "r1", {"v": 1}, LONG)
    store.retire("refresh", "r1", "refresh_used")
    assert store.retire("refresh_used", "r1", "refresh") == {"v": 1}
    assert store.get("refresh", "r1") == {"v": 1} and store.get("refresh_used", "r1") is None


def test_retire_keeps_the_expiry_unless_given_one(store):
    store.put("refresh", "kept", {"v": 1}, TTL)
    store.put("code", "longer", {"v": 2}, TTL)
    store.retire("refresh", "kept", "refresh_used")
    store.retire("code", "longer", "code_used", ttl=LONG)
    time.sleep(TTL + 0.15)
    assert store.get("refresh_used", "kept") is None
    assert store.get("code_used", "longer") == {"v": 2}


def test_retire_of_an_expired_entry_is_none(store):
    store.put("code", "old", {"v": 1}, TTL)
    time.sleep(TTL + 0.15)
    assert store.retire("code", "old", "code_used", ttl=LONG) is None
    assert store.get("code_used", "old") is None


def test_retire_replaces_an_expired_tombstone(store):
    store.put("code_used", "c1", {"old": True}, TTL)
    store.put("code", "c1", {"v": 1}, LONG)
    time.sleep(TTL + 0.15)
    assert store.retire("code", "c1", "code_used", ttl=LONG) == {"v": 1}
    assert store.get("code_used", "c1") == {"v": 1}


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_retirers_only_one_wins(store, round_):
    # a refresh token sent twice at once must rotate once (RFC 9700 4.14.2)
    store.put("refresh", "race", {"round": round_}, LONG)
    results = run_together(20, lambda: store.retire("refresh", "race", "refresh_used"))
    assert [r for r in results if r is not None] == [{"round": round_}]
    assert store.get("refresh_used", "race") == {"round": round_}


def _next(id, grant="g1", ttl=LONG):
    return Successor("refresh", id, {"client_id": "portal", "id": id}, ttl, grant)


def test_rotate_spends_the_entry_and_stores_its_successor_in_its_grant(store):
    store.put("refresh", "r1", {"client_id": "portal"}, LONG, grant_id="g1")
    assert store.rotate("refresh", "r1", "refresh_used", "portal", _next("r2")) == ROTATED
    assert store.get("refresh", "r1") is None and store.get("refresh_used", "r1") == {"client_id": "portal"}
    assert store.get("refresh", "r2") == {"client_id": "portal", "id": "r2"}
    assert store.rotate("refresh", "r1", "refresh_used", "portal", _next("r3")) == SPENT  # a replay
    assert store.get("refresh", "r3") is None
    store.revoke_family("g1", mark_ttl=LONG)
    assert store.get("refresh", "r2") is None  # the successor is one of its grant's family
    assert store.get("refresh_used", "r1") is None  # and so is the tombstone


@pytest.mark.parametrize("payload", [{"client_id": "other"}, {"v": 1}, {"client_id": None}])
def test_rotate_of_another_clients_entry_writes_nothing(store, payload):
    store.put("refresh", "r1", payload, LONG, grant_id="g1")
    assert store.rotate("refresh", "r1", "refresh_used", "portal", _next("r2")) == SPENT
    assert store.get("refresh", "r1") == payload and store.get("refresh_used", "r1") is None
    assert store.get("refresh", "r2") is None
    assert store.rotate("refresh", "gone", "refresh_used", "portal", _next("r3")) == SPENT
    assert store.get("refresh", "r3") is None


def test_rotate_gives_the_tombstone_its_ttl_and_the_successor_its_own(store):
    store.put("code", "c1", {"client_id": "portal"}, LONG)
    store.put("refresh", "r1", {"client_id": "portal"}, LONG)
    assert store.rotate("code", "c1", "code_used", "portal", _next("r2", ttl=TTL), ttl=TTL) == ROTATED
    assert store.rotate("refresh", "r1", "refresh_used", "portal", _next("r3")) == ROTATED
    time.sleep(TTL + 0.15)
    assert store.get("code_used", "c1") is None and store.get("refresh", "r2") is None
    assert store.get("refresh_used", "r1") is not None and store.get("refresh", "r3") is not None


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_rotations_only_one_wins(store, round_):
    # a refresh token sent twice at once rotates once, and only the winner's successor is kept
    store.put("refresh", "race", {"client_id": "portal"}, LONG, grant_id="g1")
    successors = iter(f"next-{round_}-{i}" for i in range(20))
    lock = threading.Lock()

    def rotate():
        with lock:
            id = next(successors)
        return store.rotate("refresh", "race", "refresh_used", "portal", _next(id)), id
    results = run_together(20, rotate)
    winners = [id for outcome, id in results if outcome == ROTATED]
    assert len(winners) == 1 and all(outcome in (ROTATED, SPENT) for outcome, _ in results)
    assert [id for _, id in results if store.get("refresh", id) is not None] == winners


def test_delete_removes_the_entry(store):
    store.put("session", "s1", {"v": 1}, LONG)
    store.put("session", "s2", {"v": 2}, LONG)
    store.delete("session", "s1")
    store.delete("session", "never-existed")  # no error
    assert store.get("session", "s1") is None
    assert store.get("session", "s2") == {"v": 2}


def test_delete_removes_several_entries_of_a_kind(store):
    for id in ("s1", "s2", "s3"):
        store.put("session", id, {"id": id}, LONG)
    store.put("code", "s1", {"other": "kind"}, LONG)
    store.delete("session", "s1", "never-existed", "s3")
    assert [store.get("session", id) for id in ("s1", "s2", "s3")] == [None, {"id": "s2"}, None]
    assert store.get("code", "s1") == {"other": "kind"}


def test_revoke_family_deletes_every_entry_of_the_grant(store):
    store.put("refresh_token", "r1", {"n": 1}, LONG, grant_id="g1")
    store.put("refresh_token", "r2", {"n": 2}, LONG, grant_id="g1")
    store.put("access_token", "a1", {"n": 3}, LONG, grant_id="g1")
    store.put("refresh_token", "used", {"n": 4}, LONG, grant_id="g1")
    assert store.consume("refresh_token", "used") == {"n": 4}
    store.put("refresh_token", "other", {"n": 5}, LONG, grant_id="g2")
    store.put("session", "s1", {"n": 6}, LONG)
    assert not store.is_revoked("g1")

    assert store.revoke_family("g1", LONG) == 3

    assert store.get("refresh_token", "r1") is None
    assert store.get("refresh_token", "r2") is None
    assert store.get("access_token", "a1") is None
    assert store.is_revoked("g1")
    assert not store.is_revoked("g2")
    assert store.get("refresh_token", "other") == {"n": 5}
    assert store.get("session", "s1") == {"n": 6}


def test_revocation_mark_lives_for_mark_ttl(store):
    store.put("refresh_token", "r1", {"n": 1}, LONG, grant_id="g1")
    assert store.revoke_family("g1", TTL) == 1
    assert store.is_revoked("g1")
    time.sleep(TTL + 0.15)
    assert not store.is_revoked("g1")


def test_revoke_family_of_an_unknown_grant_still_marks_it(store):
    assert store.revoke_family("never-issued", LONG) == 0
    assert store.is_revoked("never-issued")


def test_incr_counts_within_the_window(store):
    assert [store.incr("login:ali", LONG) for _ in range(3)] == [1, 2, 3]
    assert store.incr("login:abu", LONG) == 1


def test_incr_window_restarts_after_ttl(store):
    window = 0.4
    assert store.incr("tac:ali", window) == 1
    time.sleep(0.25)
    assert store.incr("tac:ali", window) == 2  # a later increment does not extend the window
    time.sleep(0.25)
    assert store.incr("tac:ali", window) == 1
    assert store.incr("tac:ali", window) == 2


def test_concurrent_incr_loses_no_count(store):
    results = run_together(20, lambda: store.incr("burst", LONG))
    assert sorted(results) == list(range(1, 21))


def test_ping_answers_when_reachable(store):
    store.ping()


def test_ping_raises_when_unreachable(backend, tmp_path):
    if backend == "redis":
        store = RedisStore.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
        with pytest.raises(redis.exceptions.ConnectionError):
            store.ping()
        store.r.close()
        return
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'no-such-dir' / 'store.sqlite3'}"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing?connect_timeout=2"
    engine = make_engine(url)
    with pytest.raises(OperationalError):
        SqlStore(engine).ping()
    engine.dispose()


STORE_DOWN = (OperationalError, redis.exceptions.ConnectionError)  # what idp/app.py answers with 503


def test_every_operation_raises_the_store_down_error_when_unreachable(backend, tmp_path):
    if backend == "redis":
        store = RedisStore.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    elif backend == "sqlite":
        store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'store.sqlite3'}"))
    else:
        store = SqlStore(make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/nothing?connect_timeout=2"))
    for operation in (lambda: store.put("code", "c", {}, LONG), lambda: store.get("code", "c"),
                      lambda: store.consume("code", "c"), lambda: store.replace("code", "c", {}, LONG),
                      lambda: store.retire("code", "c", "code_used"),
                      lambda: store.rotate("code", "c", "code_used", "portal", _next("r")),
                      lambda: store.incr("n", LONG), lambda: store.revoke_family("g", LONG)):
        with pytest.raises(STORE_DOWN):
            operation()


def test_a_lost_database_connection_fails_once_then_reconnects(postgres_engine):
    store = SqlStore(postgres_engine)
    store.put("session", "s1", {"v": 1}, LONG)
    with postgres_engine.connect() as admin:  # end every other connection to the database
        admin.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        store.get("session", "s1")  # the pool's pre-ping may already replace the dead connection
    except OperationalError:
        pass
    assert store.get("session", "s1") == {"v": 1}


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def test_retire_for_a_client_leaves_another_clients_entry_alone(store):
    store.put("refresh", "r1", {"client_id": "portal", "v": 1}, 60)
    assert store.retire("refresh", "r1", "refresh_used", client_id="other") is None
    assert store.get("refresh", "r1") == {"client_id": "portal", "v": 1} and store.get("refresh_used", "r1") is None
    assert store.retire("refresh", "r1", "refresh_used", client_id="portal") == {"client_id": "portal", "v": 1}
    assert store.get("refresh", "r1") is None and store.get("refresh_used", "r1") is not None
    assert store.retire("refresh", "r1", "refresh_used", client_id="portal") is None


def test_rotate_into_a_revoked_grant_writes_nothing_until_the_mark_lapses(store):
    store.put("code", "c1", {"client_id": "portal"}, LONG)
    store.revoke_family("g-dead", mark_ttl=0.5)
    assert store.rotate("code", "c1", "code_used", "portal", _next("late", grant="g-dead")) == REVOKED
    assert store.get("code", "c1") == {"client_id": "portal"} and store.get("code_used", "c1") is None
    assert store.get("refresh", "late") is None
    store.put("session", "s", {"v": 3}, 60, grant_id="g-dead")  # a plain put is written
    assert store.get("session", "s") == {"v": 3}
    time.sleep(0.6)  # the mark has lapsed
    assert store.rotate("code", "c1", "code_used", "portal", _next("later", grant="g-dead")) == ROTATED
    assert store.get("refresh", "later") is not None


@pytest.mark.parametrize("payload", [{"v": 1}, {"client_id": None}, {"client_id": 123}])
def test_retire_for_a_client_moves_no_entry_that_names_another(store, payload):
    store.put("refresh", "r", payload, 60)
    for client_id in ("portal", "", "123"):
        assert store.retire("refresh", "r", "refresh_used", client_id=client_id) is None
    assert store.get("refresh", "r") == payload and store.get("refresh_used", "r") is None


def test_a_revocation_waits_for_a_guarded_write_in_progress(postgres_engine):
    # READ COMMITTED: without the family lock, the revocation would not see the uncommitted
    # token, and the write would not see the uncommitted mark; the token would outlive both
    store = SqlStore(postgres_engine)
    raw = postgres_engine.raw_connection()
    try:
        cursor = raw.cursor()
        values = {**store._put_values("refresh", "in-flight", {"v": 1}, 600, "g-race"),
                  "now": time.time(), "m": "g-race"}
        for name in ("family_lock", "put_live"):
            store._sql[name].execute(cursor, values)
        revocation = threading.Thread(target=store.revoke_family, args=("g-race", 600))
        revocation.start()
        time.sleep(0.5)
        assert revocation.is_alive()  # waiting for the write's transaction
        raw.commit()
        revocation.join(10)
        assert store.is_revoked("g-race") and store.get("refresh", "in-flight") is None
    finally:
        raw.close()


def test_a_rotation_waits_for_a_revocation_in_progress(postgres_engine):
    # READ COMMITTED: without the family lock, the rotation would not see the uncommitted mark
    # (its successor then outliving the revocation if the rotation committed first)
    store = SqlStore(postgres_engine)
    store.put("refresh", "old", {"client_id": "portal"}, 600, grant_id="g-wait")
    raw = postgres_engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name, values in store._revoking("g-wait", 600):
            store._sql[name].execute(cursor, values)
        outcome = []
        rotation = threading.Thread(target=lambda: outcome.append(
            store.rotate("refresh", "old", "refresh_used", "portal", _next("new", grant="g-wait"))))
        rotation.start()
        time.sleep(0.5)
        assert rotation.is_alive()  # waiting for the revocation's transaction
        raw.commit()
        rotation.join(10)
        assert outcome == [REVOKED] and store.get("refresh", "new") is None
    finally:
        raw.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_rotation_broken_off_writes_nothing(store, monkeypatch):
    # the successor is written first: a failure after it must not leave it behind
    store.put("refresh", "old", {"client_id": "portal"}, LONG, grant_id="g1")

    class Fails:
        def execute(self, cursor, values):
            raise OperationalError("UPDATE", None, Exception("the database went away"))
    monkeypatch.setitem(store._sql, "retire_owned", Fails())
    with pytest.raises(OperationalError):
        store.rotate("refresh", "old", "refresh_used", "portal", _next("new"))
    monkeypatch.undo()
    assert store.get("refresh", "new") is None and store.get("refresh", "old") == {"client_id": "portal"}


def test_revoke_account_grants_revokes_every_grant_listed_under_the_account(store):
    for grant in ("g1", "g2"):
        store.add_account_grant("a-1", grant, LONG)
        store.put("refresh", f"r-{grant}", {"n": 1}, LONG, grant_id=grant)
    store.add_account_grant("a-2", "g3", LONG)
    store.put("refresh", "r-g3", {"n": 3}, LONG, grant_id="g3")
    store.add_account_grant("a-1", "g-gone", TTL)  # a listing that expired with its grant
    time.sleep(TTL + 0.15)

    assert store.revoke_account_grants("a-1", LONG) == 2

    assert store.get("refresh", "r-g1") is None and store.get("refresh", "r-g2") is None
    assert store.is_revoked("g1") and store.is_revoked("g2") and not store.is_revoked("g-gone")
    store.put("code", "c", {"client_id": "portal"}, LONG)
    assert store.rotate("code", "c", "code_used", "portal", _next("late", grant="g1")) == REVOKED
    assert store.get("refresh", "r-g3") == {"n": 3} and not store.is_revoked("g3")  # another account's
    assert store.revoke_account_grants("a-1", LONG) == 0  # the list went with them
    store.add_account_grant("a-1", "g4", LONG)  # a grant after that is listed anew
    assert store.family(account_grants("a-1")) == [{"grant": "g4"}]  # one shape on every store
    assert store.revoke_account_grants("a-1", LONG) == 1 and store.is_revoked("g4")


def test_family_lists_the_live_payloads_of_a_grant(store):
    store.put("session", "s1", {"sid": "a"}, LONG, grant_id="fam")
    store.put("session_sid", "m1", {}, LONG, grant_id="fam")
    store.put("session", "s2", {"sid": "b"}, TTL, grant_id="fam")  # lapses before the read
    store.put("session", "s3", {"sid": "c"}, LONG, grant_id="other")
    time.sleep(TTL + 0.15)
    assert sorted(store.family("fam"), key=len) == [{}, {"sid": "a"}]
    assert store.family("nobody") == []
    store.revoke_family("fam", LONG)
    assert store.family("fam") == []
