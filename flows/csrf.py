"""CSRF tokens bound to what the form acts on (an interaction, a session): HMAC, compared in
constant time. A token for one interaction is useless for another."""
import hashlib
import hmac


def csrf_token(secret: bytes, binding: str) -> str:
    return hmac.new(secret, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, binding: str, token) -> bool:
    return same_secret(csrf_token(secret, binding), token)


def same_secret(expected: str, given) -> bool:
    """Constant-time equality for a value the browser sent (form field, cookie, path): compared as
    bytes, since hmac.compare_digest raises on non-ASCII str (a 500 from user input)."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
