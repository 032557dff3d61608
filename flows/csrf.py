"""CSRF tokens bound to what the form acts on (an interaction, a session): HMAC, compared in
constant time. A token for one interaction is useless for another."""
import hashlib
import hmac


def csrf_token(secret: bytes, binding: str) -> str:
    return hmac.new(secret, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, binding: str, token) -> bool:
    return isinstance(token, str) and hmac.compare_digest(csrf_token(secret, binding), token)
