"""Rotation through the running provider: `idp keys rotate` (the CLI, another process in
production) reaches the app through the KeyCache, and an ID token signed before the rotation still
verifies against the published JWKS."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import create_app
from idp.cli import main
from idp.keystore import SqlKeyStore
from keys import rotate
from keys.jose import REGISTRY
from tests.helpers import backdate_staged_keys, exchange, login, make_user, register_client


@pytest.fixture
def app(settings):
    app = create_app({**settings, "IDP_KEY_REFRESH_SECONDS": 0.0})
    app.config["TESTING"] = True
    return app


@pytest.fixture
def cli(settings, monkeypatch, capsys):
    for name in ("IDP_INSTANCE_DIR", "IDP_DATABASE_URL", "IDP_SECRET_KEY", "IDP_OUTBOX_DIR"):
        monkeypatch.setenv(name, settings[name])

    def run(*argv):
        capsys.readouterr()
        assert main(list(argv)) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)
    return run


def id_token(app):
    browser = app.test_client()
    response = exchange(browser, login(browser)["code"])
    assert response.status_code == 200, response.json
    return response.json["id_token"]


def verify(token, jwks):
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"], registry=REGISTRY)


def test_token_signed_before_rotation_verifies_after_it(app, cli):
    provider = app.extensions["idp"]
    register_client(provider)
    make_user(provider)
    browser = app.test_client()
    old_token = id_token(app)
    old_kid = verify(old_token, browser.get("/t/kwsp/jwks").json).header["kid"]
    perkeso_jwks = browser.get("/t/perkeso/jwks").json

    staged = cli("keys", "rotate", "--tenant", "kwsp")
    assert staged["step"] == "staged"
    assert len(browser.get("/t/kwsp/jwks").json["keys"]) == 6
    assert verify(id_token(app), browser.get("/t/kwsp/jwks").json).header["kid"] == old_kid  # not signing yet

    # promoted only once every worker and any relying party's cached JWKS has the new keys
    waiting = cli("keys", "rotate", "--tenant", "kwsp")
    assert waiting["step"] == "waiting" and waiting["promotable_after"]
    assert verify(id_token(app), browser.get("/t/kwsp/jwks").json).header["kid"] == old_kid

    backdate_staged_keys(provider.settings["IDP_DATABASE_URL"], by_seconds=60 + 30)  # max-age + refresh
    promoted = cli("keys", "rotate", "--tenant", "kwsp")
    assert promoted["step"] == "promoted"
    states = {k["kid"]: k["state"] for k in promoted["keys"]}
    assert states[old_kid] == "retired"
    new_kid = next(k["kid"] for k in promoted["keys"] if k["alg"] == "RS256" and k["state"] == "active")

    jwks = browser.get("/t/kwsp/jwks").json
    assert {k["kid"] for k in jwks["keys"]} == set(states)
    assert verify(old_token, jwks).claims["sub"]
    new_token = id_token(app)
    assert verify(new_token, jwks).header["kid"] == new_kid != old_kid
    assert browser.get("/t/perkeso/jwks").json == perkeso_jwks  # other tenants untouched


def test_the_provider_does_not_start_with_another_secret(app, settings):
    """Workers given a different IDP_SECRET_KEY than the one that sealed the keys stop at start
    with the reason, rather than serving a JWKS and a 500 at every signature."""
    from keys import WrongMasterSecret
    with pytest.raises(WrongMasterSecret, match="IDP_SECRET_KEY does not open"):
        create_app({**settings, "IDP_SECRET_KEY": "another-secret-key-0123456789abcdef"})


def test_a_worker_reloading_mid_promotion_always_has_a_key_for_each_alg(app, provider, monkeypatch):
    # on SQLite each state change commits alone: a worker's cache may reload between any two
    store, lag = SqlKeyStore(provider.database), timedelta(seconds=90)
    assert rotate(store, "kwsp", provider.master, datetime.now(timezone.utc), lag, lag) == "staged"
    backdate_staged_keys(provider.settings["IDP_DATABASE_URL"], by_seconds=90)
    seen, original = [], SqlKeyStore.set_state

    def set_state(self, *args):
        original(self, *args)
        provider.keys.invalidate("kwsp")
        seen.append(set(provider.keys.get("kwsp").signing))
    monkeypatch.setattr(SqlKeyStore, "set_state", set_state)
    assert rotate(store, "kwsp", provider.master, datetime.now(timezone.utc), lag, lag) == "promoted"
    assert len(seen) == 6 and all(algs == {"RS256", "ES256", "EdDSA"} for algs in seen), seen


def test_a_retired_key_still_verifies_a_logout_hint_but_no_token(app):
    # RP-Initiated Logout 2: the ID token a portal kept for its logout is valid past its exp for as
    # long as the session; once its key is out of the JWKS it signs in no one, but names them
    provider, browser = app.extensions["idp"], app.test_client()
    register_client(provider)
    make_user(provider)
    body = exchange(browser, login(browser)["code"]).json
    store, lag, start = SqlKeyStore(provider.database), timedelta(seconds=90), datetime.now(timezone.utc)
    assert rotate(store, "kwsp", provider.master, start, lag, lag) == "staged"
    backdate_staged_keys(provider.settings["IDP_DATABASE_URL"], by_seconds=90)
    assert rotate(store, "kwsp", provider.master, datetime.now(timezone.utc), timedelta(0), lag) == "promoted"
    old_kid = jwt.decode(body["id_token"], provider.keys.get("kwsp").hint_verifier, algorithms=["RS256"],
                         registry=REGISTRY).header["kid"]
    assert old_kid not in {k["kid"] for k in browser.get("/t/kwsp/jwks").json["keys"]}  # retired at once
    assert browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code \
        == 401
    logout = {"id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://rp.example/bye", "state": "s"}
    assert browser.get("/t/kwsp/logout", query_string=logout).headers["Location"] == "https://rp.example/bye?state=s"
    # a session's lifetime after, the key is deleted, and the hint no longer names anyone
    later = datetime.now(timezone.utc) + provider.tenants["kwsp"].tokens.session_lifetime + timedelta(seconds=1)
    keep = provider.tenants["kwsp"].tokens.session_lifetime
    assert rotate(store, "kwsp", provider.master, later, timedelta(0), lag, keep_after=keep) == "staged"
    provider.keys.invalidate("kwsp")
    assert old_kid not in {k.kid for k in store.list_keys("kwsp")}
    assert browser.get("/t/kwsp/logout", query_string=logout).status_code == 400
