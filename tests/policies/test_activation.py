import re
from datetime import datetime, timedelta, timezone

import pytest

from policies.activation import (
    CROCKFORD,
    TEMPORARY_PASSWORD_ALPHABET,
    activation_deadline,
    activation_open,
    code_matches,
    hash_code,
    new_activation_code,
    new_temporary_password,
    normalise_activation_code,
)

T = datetime(2025, 1, 31, 9, 30, tzinfo=timezone.utc)
P30D = timedelta(days=30)
KEY = b"k" * 32


def test_deadline_is_issue_plus_window():
    assert activation_deadline(T, P30D) == datetime(2025, 3, 2, 9, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("after_issue", "is_open"),
    [
        (timedelta(0), True),
        (timedelta(days=29), True),
        (timedelta(days=30) - timedelta(microseconds=1), True),
        (timedelta(days=30), True),  # day 30, the deadline instant itself
        (timedelta(days=30, seconds=1), False),
        (timedelta(days=30, microseconds=1), False),
        (timedelta(days=31), False),
        (timedelta(days=365), False),
    ],
)
def test_activation_window_boundaries(after_issue, is_open):
    result = activation_open(T + after_issue, activation_deadline(T, P30D))
    assert result.passed is is_open
    assert result.reasons == (() if is_open else ("activation_expired",))


def test_window_is_timezone_independent():
    deadline = activation_deadline(T, P30D)
    myt = timezone(timedelta(hours=8))
    assert activation_open((T + P30D).astimezone(myt), deadline)
    assert not activation_open((T + P30D + timedelta(seconds=1)).astimezone(myt), deadline)


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        activation_open(datetime(2025, 1, 1), activation_deadline(T, P30D))
    with pytest.raises(ValueError):
        activation_deadline(datetime(2025, 1, 1), P30D)


def test_activation_code_shape_and_alphabet():
    code = new_activation_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", code)
    assert set(code.replace("-", "")) <= set(CROCKFORD)
    assert normalise_activation_code(code) == code.replace("-", "")


def test_activation_codes_are_random():
    assert len({new_activation_code() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS"),
        (" 7K3M q9xd 2HTB-w4nr ", "7K3MQ9XD2HTBW4NR"),
        ("OOOO-IIII-LLLL-oil0", "0000111111110110"),
        ("o-i-l", "011"),
        ("7K3M\tQ9XD\n2HTB", "7K3MQ9XD2HTB"),
        ("", ""),
    ],
)
def test_normalise_activation_code(typed, normal):
    assert normalise_activation_code(typed) == normal


def test_temporary_password_is_long_random_and_unambiguous():
    passwords = {new_temporary_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        assert len(password) >= 12
        assert set(password) <= set(TEMPORARY_PASSWORD_ALPHABET)
    assert not set("0Oo1lI") & set(TEMPORARY_PASSWORD_ALPHABET)


def test_temporary_password_length_floor():
    assert len(new_temporary_password(20)) == 20
    with pytest.raises(ValueError):
        new_temporary_password(11)


def test_hash_code_is_keyed_hmac_of_normalised_code():
    stored = hash_code(KEY, "7K3M-Q9XD-2HTB-W4NR")
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert hash_code(KEY, "7k3m q9xd 2htb w4nr") == stored
    assert hash_code(b"other key", "7K3M-Q9XD-2HTB-W4NR") != stored


@pytest.mark.parametrize(
    ("typed", "matches"),
    [
        ("1O2I-3L4B-CDEF-GH00", True),
        ("1021 314b cdef gh00", True),
        ("1O2I-3L4B-CDEF-GH0", False),
        ("1O2I-3L4B-CDEF-GH01", False),
        ("", False),
    ],
)
def test_code_matches(typed, matches):
    stored = hash_code(KEY, "1O2I-3L4B-CDEF-GH00")
    assert code_matches(KEY, typed, stored) is matches


def test_code_matches_survives_garbage_stored_hash():
    assert code_matches(KEY, "ABCD", "not-a-hash-é") is False
