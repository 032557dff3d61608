"""Rules for a password a subscriber chooses.

NIST SP 800-63B rev. 4 §3.1.1.2: length limits counted in Unicode code points after
normalisation, a blocklist of commonly used and compromised values, context-specific words
(username, identity number, service name), and no composition rules or periodic expiry.
OWASP ASVS 5.0 6.2.1 (8+ characters), 6.2.4 / 6.2.12 (common and breached passwords refused),
6.2.5 (no composition rules), 6.2.9 (64+ characters allowed), 6.2.11 (context words).
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from dataclasses import dataclass
from importlib import resources

from policies.result import PolicyResult

BLOCKLIST_RESOURCE = "data/common-passwords.txt.gz"
# Shorter context words would match by chance too often to mean anything.
MIN_CONTEXT_WORD_LENGTH = 4
# Context-specific words of the service itself (800-63B: "the name of the service, ... and
# derivatives thereof"), in its users' languages: the breached-password list is English-led and
# lets "katalaluan123" (Malay for "password123") through.
SERVICE_WORDS = ("password", "katalaluan", "kata laluan", "katasandi", "kata sandi")
# Fewer distinct visible characters than this is a repetition ("aaaaaaaaaaaa", "abababababab",
# twelve spaces, twelve zero-width spaces): 800-63B rev. 3 named such values for the blocklist,
# rev. 4 leaves its contents to the verifier.
MIN_DISTINCT = 3


@dataclass(frozen=True)
class PasswordRules:
    # 15: NIST SP 800-63B rev. 4 3.1.1.2 for a password used alone, as a sign-in here is; 8 is
    # the floor where it is one of two factors
    min_length: int = 15
    max_length: int = 128
    history: int = 5

    def __post_init__(self) -> None:
        if self.min_length < 8:
            raise ValueError("min_length must be at least 8 (ASVS 6.2.1)")
        if self.max_length < max(64, self.min_length):
            raise ValueError("max_length must be at least 64 and min_length (ASVS 6.2.9)")
        if self.history < 0:
            raise ValueError("history must not be negative")


# what adds nothing seen to a password: control and format characters (DEL, a zero-width space or
# joiner, a soft hyphen), combining marks alone, spaces, and the blank letters of Hangul and Braille
_UNSEEN_CATEGORIES = ("Cc", "Cf", "Mn", "Me", "Zs")
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _without_invisible(password: str) -> str:
    """Without control and format characters: what the blocklist and context checks read, so one
    zero-width space does not make a breached password new (length still counts every code point)."""
    return "".join(ch for ch in password if unicodedata.category(ch) not in ("Cc", "Cf"))


def _repetitive(password: str) -> bool:
    seen = {ch for ch in password.casefold() if unicodedata.category(ch) not in _UNSEEN_CATEGORIES
            and ch not in _BLANKS}
    return bool(password) and len(seen) < MIN_DISTINCT


def normalise(password: str) -> str:
    """NFKC, so the same password typed on different keyboards hashes alike (800-63B)."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped blocklist, loaded once per process."""
    packed = resources.files("policies").joinpath(BLOCKLIST_RESOURCE).read_bytes()
    return frozenset(gzip.decompress(packed).decode("utf-8").splitlines()) - {""}


def is_common(password: str) -> bool:
    return normalise(password).lower() in common_passwords()


def _contains(password: str, word: str) -> bool:
    word = normalise(word).casefold()
    return len(word) >= MIN_CONTEXT_WORD_LENGTH and word in password.casefold()


def _contains_national_id(password: str, national_id: str) -> bool:
    # Also catch the ID typed without its dashes (MyKad YYMMDD-PB-###G).
    bare = "".join(ch for ch in national_id if ch.isalnum())
    return _contains(password, national_id) or _contains(password, bare)


def tenant_words(tenant_id: str, display_names) -> tuple[str, ...]:
    """What a password may not contain of the tenant's name: its id and each word of its display
    names ("i-Akaun" gives "i" and "Akaun"), so that self-service and the CLI apply one policy."""
    return (tenant_id, *(word for name in display_names for word in name.replace("-", " ").split()))


def check_new_password(
    password: str,
    rules: PasswordRules,
    *,
    username: str = "",
    national_id: str = "",
    tenant_words: tuple[str, ...] = (),
    reused: bool = False,
) -> PolicyResult:
    """Every rule the password breaks, as reason codes; ``reused`` is the caller's argon2 check."""
    pw = normalise(password)
    reasons: list[str] = []
    if len(pw) < rules.min_length:
        reasons.append("too_short")
    if len(pw) > rules.max_length:
        reasons.append("too_long")
    seen = _without_invisible(pw)
    if is_common(seen) or _repetitive(pw) or any(_contains(seen, word) for word in SERVICE_WORDS):
        reasons.append("common")
    if username and _contains(seen, username):
        reasons.append("contains_username")
    if national_id and _contains_national_id(seen, national_id):
        reasons.append("contains_national_id")
    if any(_contains(seen, word) for word in tenant_words):
        reasons.append("contains_tenant_name")
    if reused:
        reasons.append("reused")
    return PolicyResult.of(reasons)
