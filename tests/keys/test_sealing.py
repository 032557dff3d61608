"""Private keys at rest (keys/sealing.py): AES-256-GCM bound to tenant and kid."""
import pytest
from cryptography.exceptions import InvalidTag

from keys.sealing import seal, unseal

MASTER = b"master-secret-one-0123456789abcdef"
PRIVATE = b'{"kty":"OKP","crv":"Ed25519","d":"secret-part"}'


def test_round_trip():
    sealed = seal(MASTER, PRIVATE, "kwsp/kid-1")
    assert unseal(MASTER, sealed, "kwsp/kid-1") == PRIVATE


def test_sealed_form_hides_the_plaintext_and_never_repeats():
    first, second = seal(MASTER, PRIVATE, "kwsp/kid-1"), seal(MASTER, PRIVATE, "kwsp/kid-1")
    assert first != second  # a fresh nonce each time
    assert b"secret-part" not in first.encode()


@pytest.mark.parametrize("context", ["kwsp/kid-2", "perkeso/kid-1", "kwsp/kid-1 ", ""])
def test_wrong_context_fails(context):
    # a row copied to another tenant or kid does not decrypt
    sealed = seal(MASTER, PRIVATE, "kwsp/kid-1")
    with pytest.raises(InvalidTag):
        unseal(MASTER, sealed, context)


def test_wrong_master_key_fails():
    sealed = seal(MASTER, PRIVATE, "kwsp/kid-1")
    with pytest.raises(InvalidTag):
        unseal(b"master-secret-two-0123456789abcdef", sealed, "kwsp/kid-1")


@pytest.mark.parametrize("position", [0, 11, 12, 30, -1])
def test_any_changed_byte_is_detected(position):
    import base64
    raw = bytearray(base64.urlsafe_b64decode(seal(MASTER, PRIVATE, "kwsp/kid-1")))
    raw[position] ^= 0x01
    with pytest.raises(InvalidTag):
        unseal(MASTER, base64.urlsafe_b64encode(bytes(raw)).decode(), "kwsp/kid-1")
