"""No secret in the logs, at any level (ASVS 16.2.5): the master key, passwords, codes, tokens and
client secrets stay out of every record, ours and the libraries'."""
import logging

from tests.helpers import PASSWORD, SECRET, basic, exchange, login


def test_a_sign_in_code_exchange_and_refresh_log_no_secret(provider, browser, rp, user, caplog):
    caplog.set_level(logging.DEBUG)
    code = login(browser, scope="openid offline_access")["code"]
    body = exchange(browser, code).json
    refreshed = browser.post("/t/kwsp/token", headers=basic(),
                             data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json
    secrets = {"IDP_SECRET_KEY": provider.master.decode(), "password": PASSWORD, "client secret": SECRET,
               "code": code, "access token": body["access_token"], "refresh token": body["refresh_token"],
               "ID token": body["id_token"], "new refresh token": refreshed["refresh_token"]}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records and not [name for name, value in secrets.items() if value in logged]
