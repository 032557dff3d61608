"""Sessions.establish: a step-up raises the session's level only when the authentication proved a
second factor the tenant accepts (never on the password alone, whatever path a flow took)."""
import dataclasses

import pytest
from flask import Response

TAC = "urn:kwsp:acr:tac"


@pytest.mark.parametrize("amr, totp_accepted, elevated", [
    (["pwd"], True, False),
    (["pwd", "sms"], True, True),
    (["otp"], True, True),
    (["otp"], False, False),
    ([], True, False),
])
def test_step_up_needs_a_second_factor(app, provider, amr, totp_accepted, elevated):
    tenant = provider.tenants["kwsp"]
    tenant = dataclasses.replace(tenant, tac=dataclasses.replace(tenant.tac, totp_satisfies=totp_accepted))
    with app.test_request_context("/t/kwsp/authorize"):
        previous = provider.sessions.establish(tenant, Response(), {"account_id": "a-1", "amr": ["pwd"]}, None)
        result = {"account_id": "a-1", "amr": amr, "step_up": {"acr": TAC, "binding": "b-1"}}
        session = provider.sessions.establish(tenant, Response(), result, previous)
    assert ("step_up" in session) is elevated
    assert session["sid"] == previous["sid"]  # the same user's session either way
