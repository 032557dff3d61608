"""Private keys at rest: AES-256-GCM under a key derived (HKDF-SHA256) from IDP_SECRET_KEY."""
import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"idp/signing-keys/v1"


def _aead(master_secret: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_secret)
    return AESGCM(key)


def seal(master_secret: bytes, plaintext: bytes, context: str) -> str:
    """Encrypt; `context` (tenant and kid) is bound as associated data so rows cannot be swapped."""
    nonce = os.urandom(12)
    sealed = _aead(master_secret).encrypt(nonce, plaintext, context.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(master_secret: bytes, token: str, context: str) -> bytes:
    raw = base64.urlsafe_b64decode(token.encode())
    return _aead(master_secret).decrypt(raw[:12], raw[12:], context.encode())
