"""Every password check costs one argon2 verification, whatever is stored: no account, or an
account whose only secret is an activation code's HMAC (an employer awaiting activation), takes
as long as a wrong password for a real account (ASVS 6.3.8, no enumeration by timing)."""
import hashlib
import hmac

from argon2 import PasswordHasher


def test_what_is_not_an_argon2_hash_is_checked_against_the_dummy(provider, monkeypatch):
    checked = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, hash, password: checked.append(hash) or real(
        self, hash, password))
    activation_hmac = hmac.new(b"k", b"activation code", hashlib.sha256).hexdigest()
    dummy = provider.passwords._dummy["kwsp"]
    assert provider.passwords.verify("kwsp", activation_hmac, "activation code") is False
    assert provider.passwords.verify("kwsp", None, "whatever") is False
    assert provider.passwords.verify("kwsp", "", "whatever") is False
    assert checked == [dummy, dummy, dummy]


def test_a_real_hash_still_verifies(provider):
    stored = provider.passwords.hash("kwsp", "correct horse battery staple")
    assert provider.passwords.verify("kwsp", stored, "correct horse battery staple") is True
    assert provider.passwords.verify("kwsp", stored, "wrong") is False
