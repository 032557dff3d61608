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


def test_a_refused_password_on_a_hash_of_the_old_cost_answers_as_late_as_for_an_unknown_user_id(
        provider, user, monkeypatch):
    # ASVS 6.3.8: until a user signs in again their hash has the old, cheaper cost; refusing it
    # must take as long as the dummy check an unknown user ID gets at today's cost (not less, nor
    # more by another check on top)
    import argon2
    import idp.accounts
    kwsp = provider.tenants["kwsp"]
    stronger = dataclasses.replace(kwsp, password=dataclasses.replace(kwsp.password, argon2_time_cost=3))
    provider.passwords = Passwords({**provider.tenants, "kwsp": stronger})
    checked, slept, verify = [], [], argon2.PasswordHasher.verify

    def counted(self, hash, password):
        checked.append(argon2.extract_parameters(hash).time_cost)
        return verify(self, hash, password)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", counted)
    monkeypatch.setattr(idp.accounts.time, "sleep", slept.append)
    provider.sign_in(kwsp, "nobody", "not the password", None)
    assert checked == [3] and not slept  # the dummy, at today's cost
    dummy = provider.passwords._dummy_seconds["kwsp"]
    checked.clear()
    provider.sign_in(kwsp, "ali", "not the password", None)
    assert checked == [2]  # ali's own hash only, then the wait up to the dummy's time
    assert len(slept) == 1 and 0 < slept[0] < dummy
    checked.clear()
    assert provider.sign_in(kwsp, "ali", PASSWORD, None).account_id and checked == [2]  # upgraded, not held
    provider.sign_in(kwsp, "ali", "not the password", None)
    assert checked == [2, 3] and len(slept) == 1  # upgraded: nothing to wait for
