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


def test_a_refused_password_on_a_hash_of_the_old_cost_costs_what_an_unknown_user_id_costs(provider, user,
                                                                                          monkeypatch):
    # ASVS 6.3.8: until a user signs in again their hash has the old, cheaper cost; refusing it
    # must not answer faster than the dummy check an unknown user ID gets at today's cost
    import argon2
    kwsp = provider.tenants["kwsp"]
    stronger = dataclasses.replace(kwsp, password=dataclasses.replace(kwsp.password, argon2_time_cost=3))
    provider.passwords = Passwords({**provider.tenants, "kwsp": stronger})
    checked, verify = [], argon2.PasswordHasher.verify

    def counted(self, hash, password):
        checked.append(argon2.extract_parameters(hash).time_cost)
        return verify(self, hash, password)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", counted)

    def costs(username, password):
        checked.clear()
        provider.sign_in(kwsp, username, password, None)
        return max(checked)
    assert costs("nobody", "not the password") == costs("ali", "not the password") == 3
    assert checked == [2, 3]  # ali's own hash, then the dummy
    assert costs("ali", PASSWORD) == 2  # the right password is upgraded, not padded
    assert costs("ali", "not the password") == 3 and checked == [3]  # upgraded: nothing to pad
