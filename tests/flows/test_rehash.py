"""argon2 parameters live in the tenant policy; a sign-in upgrades a hash made with old ones."""
import dataclasses

from idp.accounts import Passwords
from tests.helpers import PASSWORD


def test_sign_in_rehashes_when_the_tenant_raises_the_cost(provider, user):
    before = provider.accounts.find("kwsp", "ali").password_hash
    assert "t=2" in before
    kwsp = provider.tenants["kwsp"]
    stronger = dataclasses.replace(kwsp, password=dataclasses.replace(kwsp.password, argon2_time_cost=3))
    provider.passwords = Passwords({**provider.tenants, "kwsp": stronger})
    assert provider.sign_in(kwsp, "ali", PASSWORD, None).account_id
    after = provider.accounts.find("kwsp", "ali").password_hash
    assert "t=3" in after and after != before
    assert provider.sign_in(kwsp, "ali", PASSWORD, None).account_id  # and it still verifies
