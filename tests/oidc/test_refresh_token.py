"""Refresh tokens (RFC 6749 6, OIDC Core 12): `oidcc-refresh-token`, rotation with reuse detection
(RFC 9700 4.14.2), client binding, and the absolute family lifetime (ASVS 10.4.8)."""
import time

import pytest

from idp.ephemeral import sql_store
from idp.oauth import tokens as token_module
from tests.helpers import REDIRECT, basic, exchange, login, pkce, register_client
from tests.oidc.support import id_token_key_read_fails, tokens, validate_id_token

OTHER_SECRET = "other-secret-0123456789"


def refresh(browser, token, client_id="portal", secret=None, tenant="kwsp", **extra):
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    if secret is None and client_id == "portal":
        return browser.post(f"/t/{tenant}/token", data=data, headers=basic())
    if secret is None:
        return browser.post(f"/t/{tenant}/token", data={**data, "client_id": client_id})
    return browser.post(f"/t/{tenant}/token", data=data, headers=basic(client_id, secret))


def introspect(browser, token):
    return browser.post("/t/kwsp/token/introspect", data={"token": token}, headers=basic()).json


def assert_invalid_grant(response):
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_grant"
    assert "access_token" not in response.json


def test_oidcc_refresh_token(browser, rp, user):
    first = tokens(browser, nonce="n-r")
    original = validate_id_token(browser, first["id_token"], nonce="n-r")
    response = refresh(browser, first["refresh_token"])
    assert response.status_code == 200, response.json
    assert response.headers.getlist("Cache-Control") == ["no-store"]
    assert response.headers.getlist("Pragma") == ["no-cache"]
    second = response.json
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    # OIDC Core 12.2: same iss, sub, aud and auth_time; no nonce
    claims = validate_id_token(browser, second["id_token"], nonce=None, access_token=second["access_token"])
    assert (claims["sub"], claims["auth_time"], claims["sid"]) == (original["sub"], original["auth_time"], original["sid"])
    assert browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200


def vschar(token: str) -> bool:
    """RFC 6749 Appendix A: refresh-token = 1*VSCHAR, VSCHAR = %x20-7E."""
    return bool(token) and all(0x20 <= ord(c) <= 0x7E for c in token)


def test_oidcc_refresh_token_as_the_suite_sends_it(browser, rp, user):
    # the module asks for offline_access and adds prompt=consent (OIDC Core 11)
    result = login(browser, scope="openid offline_access", prompt="consent", nonce="n-rc")
    assert "code" in result and "error" not in result
    first = exchange(browser, result["code"]).json
    assert "offline_access" in first["scope"].split()
    validate_id_token(browser, first["id_token"], nonce="n-rc", access_token=first["access_token"])
    assert vschar(first["refresh_token"])
    response = refresh(browser, first["refresh_token"])
    assert response.status_code == 200, response.json
    second = response.json
    assert second["access_token"] != first["access_token"]
    assert vschar(second["refresh_token"])
    assert browser.get("/t/kwsp/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200


def test_refresh_token_rotated_old_one_refused(browser, rp, user):
    first = tokens(browser)
    assert refresh(browser, first["refresh_token"]).status_code == 200
    assert_invalid_grant(refresh(browser, first["refresh_token"]))


def test_refresh_token_reuse_revokes_whole_grant(browser, rp, user):
    first = tokens(browser)
    second = refresh(browser, first["refresh_token"]).json
    assert introspect(browser, second["access_token"])["active"] is True
    assert_invalid_grant(refresh(browser, first["refresh_token"]))  # replay of a rotated token
    assert_invalid_grant(refresh(browser, second["refresh_token"]))  # the live one dies with the grant
    assert introspect(browser, second["access_token"])["active"] is False
    assert introspect(browser, first["access_token"])["active"] is False


def test_oidcc_refresh_token_other_clients_token_refused(browser, provider, rp, user):
    register_client(provider, client_id="other", secret=OTHER_SECRET)
    stolen = tokens(browser)["refresh_token"]
    assert_invalid_grant(refresh(browser, stolen, client_id="other", secret=OTHER_SECRET))
    # the attempt must not burn or revoke the owner's token
    assert refresh(browser, stolen).status_code == 200


def test_other_clients_token_refused_without_touching_the_store(browser, provider, rp, user, monkeypatch):
    # no moment where the owner's token is a tombstone, which the owner's own refresh in that
    # moment would take for reuse and revoke the grant: another client's token is only read (and
    # the retire that spends a token moves it only if it is the presenting client's, in one
    # atomic step: tests/storage)
    register_client(provider, client_id="other", secret=OTHER_SECRET)
    stolen = tokens(browser)["refresh_token"]
    writes, retire = [], provider.store.retire
    for op in ("put", "rotate", "consume", "delete", "revoke_family"):
        monkeypatch.setattr(provider.store, op, lambda *a, op=op, **k: writes.append(op))
    monkeypatch.setattr(provider.store, "retire",
                        lambda *a, **k: writes.append(("retire", k.get("client_id"))) or retire(*a, **k))
    assert_invalid_grant(refresh(browser, stolen, client_id="other", secret=OTHER_SECRET))
    assert writes == []


def test_reuse_of_a_tombstone_in_the_earlier_shape_revokes(browser, provider, rp, user):
    # tombstones written before retire() held only the grant and client ids
    first = tokens(browser)
    second = refresh(browser, first["refresh_token"]).json
    key = token_module.store_key(provider.tenants["kwsp"], first["refresh_token"])
    grant_id = provider.store.get("refresh_used", key)["subject"]["grant_id"]
    provider.store.put("refresh_used", key, {"grant_id": grant_id, "client_id": "portal"}, 3600)
    assert_invalid_grant(refresh(browser, first["refresh_token"]))
    assert provider.store.is_revoked(grant_id)
    assert introspect(browser, second["access_token"])["active"] is False


def test_refresh_token_of_another_tenant_refused(browser, provider, rp, user):
    register_client(provider, tenant="perkeso")  # the same client_id in another tenant
    stolen = tokens(browser)["refresh_token"]
    assert_invalid_grant(refresh(browser, stolen, tenant="perkeso"))
    assert refresh(browser, stolen).status_code == 200


def test_public_client_refresh_rotation(browser, provider, user):
    register_client(provider, client_id="spa", auth_method="none", grant_types=["authorization_code", "refresh_token"])
    verifier, challenge = pkce()
    code = login(browser, client_id="spa", code_challenge=challenge, code_challenge_method="S256")["code"]
    first = browser.post("/t/kwsp/token", data={"grant_type": "authorization_code", "code": code, "client_id": "spa",
                                                 "redirect_uri": REDIRECT, "code_verifier": verifier}).json
    second = refresh(browser, first["refresh_token"], client_id="spa")
    assert second.status_code == 200, second.json
    assert_invalid_grant(refresh(browser, first["refresh_token"], client_id="spa"))
    assert_invalid_grant(refresh(browser, second.json["refresh_token"], client_id="spa"))


def test_refresh_can_narrow_scope(browser, rp, user):
    first = tokens(browser, scope="openid profile email")
    response = refresh(browser, first["refresh_token"], scope="openid email")
    assert response.status_code == 200
    assert set(response.json["scope"].split()) == {"openid", "email"}


def test_narrowed_refresh_keeps_the_grants_scope_in_the_new_refresh_token(browser, rp, user):
    # RFC 6749 6: only the access token is narrowed; the new refresh token has the old one's scope
    first = tokens(browser, scope="openid email phone offline_access")
    narrow = refresh(browser, first["refresh_token"], scope="openid email offline_access")
    assert narrow.status_code == 200, narrow.json
    assert set(narrow.json["scope"].split()) == {"openid", "email", "offline_access"}
    assert set(introspect(browser, narrow.json["access_token"])["scope"].split()) == {"openid", "email", "offline_access"}
    assert set(introspect(browser, narrow.json["refresh_token"])["scope"].split()) == \
        {"openid", "email", "phone", "offline_access"}
    back = refresh(browser, narrow.json["refresh_token"], scope="openid email phone offline_access")
    assert back.status_code == 200, back.json
    assert set(back.json["scope"].split()) == {"openid", "email", "phone", "offline_access"}


def test_refresh_cannot_widen_scope(browser, rp, user):
    first = tokens(browser, scope="openid email")
    response = refresh(browser, first["refresh_token"], scope="openid email phone")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_scope"


def test_refused_scope_leaves_the_refresh_token_usable(browser, rp, user):
    # an invalid_scope must not spend the token: the retry would be taken for reuse and revoke the grant
    first = tokens(browser, scope="openid email offline_access")
    widened = refresh(browser, first["refresh_token"], scope="openid email phone")
    assert widened.status_code == 400 and widened.json["error"] == "invalid_scope"
    retry = refresh(browser, first["refresh_token"])
    assert retry.status_code == 200, retry.json
    assert introspect(browser, retry.json["access_token"])["active"] is True
    assert_invalid_grant(refresh(browser, first["refresh_token"]))  # a real second use is still reuse
    assert_invalid_grant(refresh(browser, retry.json["refresh_token"]))


def test_refresh_family_has_absolute_expiry(browser, rp, user):
    first = tokens(browser)
    second = refresh(browser, first["refresh_token"]).json
    exp_first = introspect(browser, second["refresh_token"])["exp"]
    third = refresh(browser, second["refresh_token"]).json
    assert introspect(browser, third["refresh_token"])["exp"] == exp_first  # rotation does not extend it


def test_refresh_with_wrong_client_secret(browser, rp, user):
    token = tokens(browser)["refresh_token"]
    response = refresh(browser, token, client_id="portal", secret="wrong-secret-0123456789")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert refresh(browser, token).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "y" * 600])
def test_refresh_with_garbage(browser, rp, token):
    response = refresh(browser, token)
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_grant", "invalid_request")


def test_refresh_refused_when_account_no_longer_active(browser, provider, rp, user):
    token = tokens(browser)["refresh_token"]
    provider.accounts.update("kwsp", user["id"], state="suspended")
    assert_invalid_grant(refresh(browser, token))


def test_a_lockout_does_not_end_the_grants(browser, provider, rp, user):
    # the lock guards against password guessing; anyone who knows a user ID can cause one, and
    # it must not cost every portal its grant
    first = tokens(browser, scope="openid offline_access")
    tenant = provider.tenants["kwsp"]
    for attempt in range(tenant.lockout.threshold):
        provider.sign_in(tenant, "ali", f"wrong guess {attempt}", "203.0.113.9")
    assert provider.accounts.find("kwsp", "ali").state == "locked"
    second = refresh(browser, first["refresh_token"])
    assert second.status_code == 200, second.json
    assert refresh(browser, second.json["refresh_token"]).status_code == 200


@pytest.mark.parametrize("state", ["dormant", "deactivated", "terminated"])
def test_a_refused_account_leaves_the_refresh_token_unspent(browser, provider, rp, user, state):
    # a refusal spends nothing: the token is no tombstone that a later use takes for reuse
    token = tokens(browser, scope="openid offline_access")["refresh_token"]
    provider.accounts.update("kwsp", user["id"], state=state)
    response = refresh(browser, token)
    assert_invalid_grant(response)
    assert response.json["error_description"] == "The account can no longer sign in."
    provider.accounts.update("kwsp", user["id"], state="active")  # bypassing the life cycle's revocations
    assert refresh(browser, token).status_code == 200


class Clock:
    """One shifted clock for the store and the grant (tokens and the store agree on 'now')."""

    def __init__(self):
        self.offset = 0

    def time(self):
        return time.time() + self.offset

    def __getattr__(self, name):  # monotonic, sleep ...: as they are
        return getattr(time, name)


def test_refresh_family_expires_absolutely(browser, rp, user, monkeypatch):
    clock, day = Clock(), 24 * 3600
    for module in (sql_store, token_module):
        monkeypatch.setattr(module, "time", clock)
    first = tokens(browser, scope="openid offline_access")  # it outlives the session
    clock.offset = 20 * day
    second = refresh(browser, first["refresh_token"])
    assert second.status_code == 200  # rotated on day 20: the family still ends on day 30
    clock.offset = 29 * day
    assert introspect(browser, second.json["refresh_token"])["active"] is True
    clock.offset = 30 * day + 1
    assert_invalid_grant(refresh(browser, second.json["refresh_token"]))


def test_a_grant_revoked_while_a_refresh_is_on_its_way_gets_no_new_token(browser, provider, rp, user, monkeypatch):
    # a logout or a detected reuse after the old token was read, before it is spent: the new
    # token is not written into the revoked grant (its write and the spend are one step)
    first = tokens(browser)
    rotate = provider.store.rotate

    def revoked_on_the_way(kind, id, to_kind, client_id, successor, **kwargs):
        provider.store.revoke_family(successor.grant_id, mark_ttl=60)
        return rotate(kind, id, to_kind, client_id, successor, **kwargs)

    monkeypatch.setattr(provider.store, "rotate", revoked_on_the_way)
    assert_invalid_grant(refresh(browser, first["refresh_token"]))
    monkeypatch.undo()
    with provider.database.engine.connect() as conn:
        live = conn.exec_driver_sql("SELECT count(*) FROM ephemeral WHERE kind = 'refresh'").scalar()
    assert live == 0


def _log_out(browser, id_token):
    response = browser.get("/t/kwsp/logout", query_string={"id_token_hint": id_token,
                                                         "post_logout_redirect_uri": "https://rp.example/bye"})
    assert response.status_code == 302


def test_without_offline_access_a_grant_ends_with_its_session(browser, rp, user):
    # OIDC Core 11: only offline_access asks for access while the user is not signed in
    first = tokens(browser)  # openid profile email
    second = refresh(browser, first["refresh_token"])
    assert second.status_code == 200
    _log_out(browser, first["id_token"])
    assert_invalid_grant(refresh(browser, second.json["refresh_token"]))


def test_offline_access_outlives_the_session(browser, rp, user):
    first = tokens(browser, scope="openid offline_access")
    _log_out(browser, first["id_token"])
    assert refresh(browser, first["refresh_token"]).status_code == 200


def test_a_password_change_ends_grants_without_offline_access(browser, provider, rp, user):
    from idp.self_service import SelfService
    first = tokens(browser)
    SelfService(provider).set_password(provider.tenants["kwsp"], user["id"], "a new one, long enough", None, "change")
    assert_invalid_grant(refresh(browser, first["refresh_token"]))


@pytest.mark.parametrize("action", ["deactivate", "terminate"])
def test_the_helpdesk_ending_an_account_ends_its_offline_grants(browser, provider, rp, user, action):
    first = tokens(browser, scope="openid offline_access")
    tenant = provider.tenants["kwsp"]
    getattr(provider.lifecycle, action)(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    if action == "deactivate":  # the grant does not come back with the account
        provider.lifecycle.reactivate(tenant, provider.accounts.find("kwsp", "ali"), actor="helpdesk:1")
    assert_invalid_grant(refresh(browser, first["refresh_token"]))


def test_a_password_change_keeps_offline_grants(browser, provider, rp, user):
    # docs/PORTAL_DEVELOPERS.md: offline_access keeps refreshing; only a reset (recovery) ends it
    from idp.self_service import SelfService
    first = tokens(browser, scope="openid offline_access")
    SelfService(provider).set_password(provider.tenants["kwsp"], user["id"], "a new one, long enough", None, "change")
    assert refresh(browser, first["refresh_token"]).status_code == 200


@pytest.mark.parametrize("failing", ["get", "rotate"])
def test_a_store_failing_during_a_refresh_leaves_the_old_token_usable(browser, provider, rp, user, monkeypatch,
                                                                      failing):
    # the store goes down as the old token is read, or as it is spent and the new one written
    # (one atomic step): the client's retry with the token it holds is not taken for reuse
    # (which would end the grant)
    import redis
    first = tokens(browser, scope="openid offline_access")
    real = getattr(provider.store, failing)

    def store_down(kind, *args, **kwargs):
        if kind == "refresh":
            raise redis.exceptions.ConnectionError("the store went away")
        return real(kind, *args, **kwargs)
    monkeypatch.setattr(provider.store, failing, store_down)
    assert refresh(browser, first["refresh_token"]).status_code == 503
    monkeypatch.undo()
    retried = refresh(browser, first["refresh_token"])
    assert retried.status_code == 200, retried.json
    assert refresh(browser, retried.json["refresh_token"]).status_code == 200
    assert not provider.audit.events("kwsp", event="grant.revoked")


def test_the_same_token_sent_twice_at_once_still_ends_the_grant(browser, provider, rp, user, monkeypatch):
    # both read it live and make a new token; the second to spend it finds a tombstone: reuse
    first = tokens(browser, scope="openid offline_access")
    rotate = provider.store.rotate
    sent_again, racing = [], []

    def the_other_request_spends_it_first(kind, *args, **kwargs):
        if kind == "refresh" and not racing:
            racing.append(True)
            sent_again.append(refresh(browser, first["refresh_token"]))  # wins the rotation
        return rotate(kind, *args, **kwargs)
    monkeypatch.setattr(provider.store, "rotate", the_other_request_spends_it_first)
    loser = refresh(browser, first["refresh_token"])
    monkeypatch.undo()
    assert_invalid_grant(loser)
    winner, = sent_again
    assert winner.status_code == 200
    assert_invalid_grant(refresh(browser, winner.json["refresh_token"]))  # the grant was revoked
    with provider.database.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM ephemeral WHERE kind = 'refresh'").scalar() == 0


def test_a_store_failing_as_the_id_token_is_made_leaves_the_old_token_usable(browser, provider, rp, user,
                                                                            monkeypatch):
    first = tokens(browser, scope="openid offline_access")
    id_token_key_read_fails(monkeypatch, provider)
    assert refresh(browser, first["refresh_token"]).status_code == 503
    monkeypatch.undo()
    assert refresh(browser, first["refresh_token"]).status_code == 200
    assert not provider.audit.events("kwsp", event="grant.revoked")
