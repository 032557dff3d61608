"""Request parameters that carry JSON: `claims` (OIDC Core 5.5) and `authorization_details`
(RFC 9396)."""
import json

MAX_JSON_PARAM = 16_384  # characters: far above any real request


def json_param(raw: str | None):
    """The parsed value, or None when absent, too long or not JSON. Nesting too deep for the
    parser (`[[[[...`, a RecursionError) and unpaired surrogates are not JSON here either: bad
    input, not a 500."""
    if not raw or len(raw) > MAX_JSON_PARAM:
        return None
    try:
        value = json.loads(raw)
        # a lone surrogate (\ud800) parses, but no UTF-8 encoder takes it: it would fail later,
        # in a token or a redirect, once a code had been spent
        json.dumps(value, ensure_ascii=False).encode()
        return value
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
