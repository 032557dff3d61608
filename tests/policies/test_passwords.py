import gzip
from importlib import resources

import pytest

from policies.passwords import (
    PasswordRules,
    check_new_password,
    common_passwords,
    is_common,
    normalise,
    tenant_words,
)

RULES = PasswordRules(min_length=12)  # the boundaries below are written for 12
GOOD = "tiger-umbrella-kettle"


def reasons(password, rules=RULES, **context):
    return check_new_password(password, rules, **context).reasons


def test_defaults():
    defaults = PasswordRules()
    assert (defaults.min_length, defaults.max_length, defaults.history) == (15, 128, 5)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_length": 7}, {"max_length": 63}, {"min_length": 100, "max_length": 99}, {"history": -1}],
)
def test_rules_are_validated(kwargs):
    with pytest.raises(ValueError):
        PasswordRules(**kwargs)


def test_a_good_password_passes():
    result = check_new_password(GOOD, RULES)
    assert result.passed and result.reasons == ()


@pytest.mark.parametrize(
    ("length", "expected"),
    [(0, ("too_short",)), (11, ("too_short",)), (12, ()), (13, ()), (128, ()),
     (129, ("too_long",))],
)
def test_length_boundaries(length, expected):
    password = ("zq7" * 50)[:length]
    assert reasons(password) == expected


def test_length_counts_code_points_not_bytes():
    eleven_emoji = ("\N{GRINNING FACE}\N{CAT FACE}\N{DOG FACE}" * 4)[:11]
    assert reasons(eleven_emoji) == ("too_short",)
    assert reasons(eleven_emoji + "\N{GRINNING FACE}") == ()


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\x7f", "\x01", "\ufeff"])
def test_invisible_characters_count_towards_the_length_but_are_no_variety(invisible):
    assert reasons("zq7wv9xk2pe" + invisible) == ()  # every code point counts (800-63B rev. 4)
    assert reasons(invisible * 20) == ("common",)
    assert reasons("ab" * 6 + invisible * 3) == ("common",)


@pytest.mark.parametrize("hidden", ["\u200b", "\u00ad", "\u200d", "\x7f"])
def test_an_invisible_character_does_not_make_a_breached_or_context_password_new(hidden):
    assert "common" in reasons("qwerty12345" + hidden)  # 11 on the list, 12 code points
    assert "common" in reasons("kata" + hidden + "laluan123")
    assert "contains_username" in check_new_password("ali" + hidden + "baba2026xyz", RULES, username="alibaba").reasons


@pytest.mark.parametrize("blank", ["\ufe0f", "\u0301", "\u3164", "\u2800", "\u00a0"])
def test_blank_or_combining_characters_add_no_variety(blank):
    assert reasons("ab" * 6 + blank) == ("common",)


def test_a_joined_emoji_counts_each_code_point():
    assert reasons("\N{WOMAN}\u200d\N{PERSONAL COMPUTER}\N{CAT FACE}" * 3) == ()  # 12 code points, 3 seen


@pytest.mark.parametrize("password", [" " * 12, "a" * 16, "ab" * 8, "\u0301" * 12, "Aa" * 7])
def test_repetitions_are_refused(password):
    assert reasons(password) == ("common",)


@pytest.mark.parametrize("password", ["katalaluan123", "KataLaluan2026!", "kata laluan saya", "mypassword2026"])
def test_the_services_own_words_are_refused_in_malay_too(password):
    assert reasons(password) == ("common",)


def test_length_is_measured_after_nfkc():
    # U+FB03 (ffi ligature) is one code point that NFKC turns into three.
    assert normalise("\ufb03") == "ffi"
    assert reasons("zq7wv9xk2" + "\ufb03") == ()  # 9 + 3 = 12 after NFKC
    # Decomposed e + combining acute (2 code points) composes to one.
    assert reasons("zq7wv9xk2pe" + "\u0301") == ("too_short",)


def test_no_composition_rules():
    # ASVS 6.2.5: all lowercase letters, no digits or symbols, is fine.
    assert reasons("correcthorsebatterystaple zebra") == ()
    assert reasons("            zebra    ") == ()


@pytest.mark.parametrize(
    "password",
    ["password", "PASSWORD", "Password", "123456789012", "qwertyuiop", "iloveyou", "password1234"],
)
def test_common_passwords_are_refused(password):
    assert is_common(password)
    assert "common" in reasons(password)


def test_common_check_applies_nfkc_and_case():
    # Fullwidth letters normalise to ASCII under NFKC.
    assert is_common("ｐａｓｓｗｏｒｄ")


def test_uncommon_password_is_not_common():
    assert not is_common(GOOD)
    assert not is_common("")


def test_blocklist_size_and_form():
    words = common_passwords()
    assert len(words) >= 100_000
    assert "" not in words
    assert all(word == word.lower() for word in words)


def test_blocklist_file_is_deduplicated_and_lowercase():
    packed = resources.files("policies").joinpath("data/common-passwords.txt.gz").read_bytes()
    lines = gzip.decompress(packed).decode("utf-8").splitlines()
    assert len(lines) == len(set(lines)) >= 100_000
    assert lines[:3] == ["123456", "password", "12345678"]  # frequency order kept


def test_blocklist_is_loaded_once():
    assert common_passwords() is common_passwords()


@pytest.mark.parametrize(
    ("username", "password", "flagged"),
    [
        ("ahmad.zaki", "my-AHMAD.ZAKI-pass-99", True),
        ("AhmadZ", "zz-ahmadz-horse-kettle", True),
        ("abc", "abc-tiger-umbrella-kettle", False),  # under 4 characters: ignored
        ("abcd", "abcd-tiger-umbrella-kettle", True),
        ("siti", GOOD, False),
        ("", GOOD, False),
    ],
)
def test_contains_username(username, password, flagged):
    assert ("contains_username" in reasons(password, username=username)) is flagged


@pytest.mark.parametrize(
    ("national_id", "password", "flagged"),
    [
        ("900101-14-5678", "pw 900101-14-5678 ok!", True),
        ("900101-14-5678", "pw 900101145678 ok!", True),
        ("900101145678", "tiger-umbrella-900101145678", True),
        ("A1234567", "passport a1234567 kettle", True),
        ("123", "tiger-umbrella-123-kettle", False),
        ("900101-14-5678", GOOD, False),
    ],
)
def test_contains_national_id(national_id, password, flagged):
    assert ("contains_national_id" in reasons(password, national_id=national_id)) is flagged


@pytest.mark.parametrize(
    ("words", "password", "flagged"),
    [
        (("KWSP", "i-Akaun"), "my-kwsp-tiger-umbrella", True),
        (("KWSP", "i-Akaun"), "I-AKAUN-tiger-umbrella", True),
        (("KWSP",), GOOD, False),
        (("epf",), "epf-tiger-umbrella-kettle", False),  # under 4 characters: ignored
        ((), GOOD, False),
    ],
)
def test_contains_tenant_name(words, password, flagged):
    assert ("contains_tenant_name" in reasons(password, tenant_words=words)) is flagged


def test_reused_is_the_callers_verdict():
    assert reasons(GOOD, reused=True) == ("reused",)


def test_all_reasons_reported_together():
    result = check_new_password(
        "kwsp", PasswordRules(), username="kwsp", national_id="kwsp", tenant_words=("kwsp",),
        reused=True,
    )
    assert result.reasons == (
        "too_short", "contains_username", "contains_national_id", "contains_tenant_name", "reused",
    )
    assert check_new_password("password", RULES, reused=True).reasons == (
        "too_short", "common", "reused",
    )


def test_too_long_and_common_are_independent():
    long_rules = PasswordRules(min_length=8, max_length=64)
    assert reasons(("xyz" * 22)[:65], long_rules) == ("too_long",)
    assert reasons("password", long_rules) == ("common",)


def test_tenant_words_are_the_id_and_every_word_of_every_display_name():
    # one list for self-service and the CLI's --password (one policy)
    assert tenant_words("kwsp", ["KWSP i-Akaun", "EPF i-Akaun"]) == ("kwsp", "KWSP", "i", "Akaun", "EPF", "i", "Akaun")
    assert tenant_words("kwap", []) == ("kwap",)
    assert "contains_tenant_name" in reasons("akaunakaunakaun", tenant_words=tenant_words("kwsp", ["i-Akaun"]))
