"""`storage.db.Compiled` and `dbapi_connection`: the statements of the hot paths, run straight on
the driver, behave like SQLAlchemy's own execution - same rows on SQLite and PostgreSQL, and a
driver error comes out as the SQLAlchemy error the app answers with a fail-closed 503."""
import pytest
from sqlalchemy import bindparam, create_engine, select, text
from sqlalchemy.exc import OperationalError

from idp.storage.db import Compiled, dbapi_connection, make_engine
from idp.storage.models import Account
from tests.helpers import make_user

STATE = select(Account.state).where(Account.id == bindparam("account"), Account.tenant_id == bindparam("tenant"))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_compiled_first_row_matches_sqlalchemy(database, make_app, postgres_url, tmp_path):
    url = postgres_url if database == "postgresql" else f"sqlite:///{tmp_path / 'hot.sqlite3'}"
    provider = make_app(IDP_DATABASE_URL=url).extensions["idp"]
    account = make_user(provider)
    engine = provider.database.engine
    statement = Compiled(STATE, engine.dialect)
    for values in ({"account": account["id"], "tenant": "kwsp"}, {"account": account["id"], "tenant": "perkeso"},
                   {"account": "no-such-account", "tenant": "kwsp"}):
        with engine.connect() as connection:
            expected = connection.execute(STATE, values).first()
        with dbapi_connection(engine) as connection:
            row = statement.first(connection, values)
        assert (tuple(row) if row else None) == (tuple(expected) if expected else None)
    assert provider.accounts.state("kwsp", account["id"]) == "active"
    assert provider.accounts.state("perkeso", account["id"]) is None  # another tenant's account


def test_a_driver_error_is_sqlalchemys_and_the_connection_is_dropped(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hot.sqlite3'}")
    statement = Compiled(STATE, engine.dialect)  # the table was never created: "no such table"
    with pytest.raises(OperationalError) as raised:
        with dbapi_connection(engine) as connection:
            failed = connection.dbapi_connection
            statement.first(connection, {"account": "a", "tenant": "kwsp"})
    assert raised.value.statement == statement.sql  # the statement reaches the log line
    assert engine.pool.checkedout() == 0
    with dbapi_connection(engine) as connection:
        assert connection.dbapi_connection is not failed  # invalidated: the next one is new
    engine.dispose()


def test_an_unreachable_database_fails_closed_on_an_account_read(make_app, tmp_path):
    provider = make_app().extensions["idp"]
    account = make_user(provider)
    provider.database.engine.dispose()
    provider.database.engine.pool = create_engine(f"sqlite:///{tmp_path / 'gone' / 'x.sqlite3'}").pool
    with pytest.raises(OperationalError):
        provider.accounts.state("kwsp", account["id"])


def test_a_literal_value_is_refused_when_compiling(tmp_path):
    # Compiled passes only the caller's named values: a literal would be missing at run time
    engine = make_engine(f"sqlite:///{tmp_path / 'hot.sqlite3'}")
    with pytest.raises(ValueError, match="bindparam"):
        Compiled(select(Account.state).where(Account.tenant_id == "kwsp"), engine.dialect)
    engine.dispose()


def test_the_connection_goes_back_to_the_pool(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hot.sqlite3'}")
    with dbapi_connection(engine) as connection:
        assert Compiled(select(text("1")), engine.dialect).first(connection, {}) == (1,)
        assert engine.pool.checkedout() == 1
    assert engine.pool.checkedout() == 0 and engine.pool.checkedin() == 1
    engine.dispose()
