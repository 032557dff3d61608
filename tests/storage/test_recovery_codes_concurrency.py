"""Recovery codes used at the same moment, on both durable databases: each use strikes its own
code under the row's write lock, so none comes back and none passes twice."""
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from tests.helpers import make_user


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_codes_used_side_by_side_are_each_struck_once(make_app, request, database):
    overrides = {"IDP_DATABASE_URL": request.getfixturevalue("postgres_url")} if database == "postgres" else {}
    provider = make_app(**overrides).extensions["idp"]
    account = make_user(provider)
    codes = [f"code-{n}" for n in range(8)]
    provider.accounts.update("kwsp", account["id"], totp_recovery_codes=codes)
    uses = codes + codes  # every code twice, all at once
    start = Barrier(len(uses))

    def use(code):
        start.wait()
        return provider.accounts.take_recovery_code("kwsp", account["id"], code)

    with ThreadPoolExecutor(len(uses)) as pool:
        results = list(pool.map(use, uses))
    assert sum(r is not None for r in results) == len(codes)  # each code passed once
    assert sorted(r for r in results if r is not None) == list(range(len(codes)))  # 7, 6, ... 0 left
    assert provider.accounts.get("kwsp", account["id"]).totp_recovery_codes == []
