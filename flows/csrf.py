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


# Interactions one browser holds at once (sign-ins in two tabs, a step-up beside an account page):
# the cookie carries their bindings, the latest last, and the oldest lapses first.
MAX_HELD = 5


def holds_interaction(secret: bytes, uid: str, cookie) -> bool:
    token = interaction_cookie(secret, uid)
    return any([same_secret(token, held) for held in _bindings(cookie)])  # every one compared


def holding(secret: bytes, uid: str, cookie) -> str:
    """The cookie value that holds `uid` besides the latest others the browser holds."""
    others = _bindings(releasing(secret, uid, cookie))
    return ".".join([*others[-(MAX_HELD - 1):], interaction_cookie(secret, uid)])


def releasing(secret: bytes, uid: str, cookie) -> str:
    """The cookie value without `uid` (a finished interaction); empty when nothing is left."""
    token = interaction_cookie(secret, uid)
    return ".".join(held for held in _bindings(cookie) if not same_secret(token, held))


def _bindings(cookie) -> list[str]:
    if not isinstance(cookie, str):
        return []
    return [held for held in cookie.split(".")[-MAX_HELD:] if len(held) == 64 and held.isascii() and held.isalnum()]


def same_secret(expected: str, given) -> bool:
    """Constant-time equality for a value the browser sent (form field, cookie, path): compared as
    bytes, since hmac.compare_digest raises on non-ASCII str (a 500 from user input)."""
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
