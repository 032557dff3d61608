"""CSRF tokens bound to what the form acts on (an interaction, a session), and the cookie that
binds an interaction to its browser: HMACs, compared in constant time. A token for one
interaction is useless for another."""
import hashlib
import hmac


def csrf_token(secret: bytes, binding: str) -> str:
    return hmac.new(secret, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, binding: str, token) -> bool:
    return same_secret(csrf_token(secret, binding), token)


def interaction_cookie(secret: bytes, uid: str) -> str:
    """The cookie value that holds interaction `uid`: derived with the server's key, so a leaked
    interaction URL (a log, a screenshot, history) does not let another browser take it over."""
    return hmac.new(secret, b"interaction:" + uid.encode(), hashlib.sha256).hexdigest()


def holds_interaction(secret: bytes, uid: str, cookie) -> bool:
    return same_secret(interaction_cookie(secret, uid), cookie)


def same_secret(expected: str, given) -> bool:
    """Constant-time equality for a value the browser sent (form field, cookie, path): compared as
    bytes, since hmac.compare_digest raises on non-ASCII str (a 500 from user input)."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
