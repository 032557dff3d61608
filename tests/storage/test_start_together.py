"""Workers started together on an empty database and instance directory (`granian --workers N`
run directly): one schema, one master secret, one signing key per algorithm and tenant."""
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, func, select

from idp.storage.models import SigningKeyRow

WORKERS = 4
# each worker imports first, then starts at the same moment as the others
WORKER = """
import sys, time
from idp import create_app
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
app = create_app()
print(app.extensions["idp"].master.decode())
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "pgbouncer"])
def test_workers_started_together_prepare_one_database(database, tmp_path, request):
    sqlite = f"sqlite:///{tmp_path / 'together.sqlite3'}"
    url = sqlite if database == "sqlite" else request.getfixturevalue("postgres_url")
    if database == "pgbouncer":  # in transaction mode, one server connection for the four workers
        url = request.getfixturevalue("pgbouncer").url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_INSTANCE_DIR=str(tmp_path / "instance"), IDP_DATABASE_URL=url, IDP_OUTBOX_DIR=str(tmp_path))
    start = time.time() + 4  # after every worker's imports
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(start)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(WORKERS)]
    results = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0] * WORKERS, [err[-800:] for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1  # one master secret
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(select(SigningKeyRow.tenant_id, SigningKeyRow.alg, func.count())
                                .group_by(SigningKeyRow.tenant_id, SigningKeyRow.alg)).all()
    finally:
        engine.dispose()
    assert len(keys) == 9 and {count for *_, count in keys} == {1}, keys
