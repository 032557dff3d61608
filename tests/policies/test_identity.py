from datetime import date

import pytest

from policies.identity import normalise_msisdn, validate_mykad

TODAY = date(2025, 11, 22)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("012-3456789", "+60123456789"),
        ("0123456789", "+60123456789"),
        ("60123456789", "+60123456789"),
        ("+60123456789", "+60123456789"),
        ("+60 12-345 6789", "+60123456789"),
        (" 012 345 6789 ", "+60123456789"),
        ("(012) 345-6789", "+60123456789"),
        ("012.345.6789", "+60123456789"),
        ("011-23456789", "+601123456789"),
        ("01123456789", "+601123456789"),
        ("+60 11-2345 6789", "+601123456789"),
        ("601123456789", "+601123456789"),
        ("010-1234567", "+60101234567"),
        ("013-1234567", "+60131234567"),
        ("014-1234567", "+60141234567"),
        ("016-1234567", "+60161234567"),
        ("017-1234567", "+60171234567"),
        ("018-1234567", "+60181234567"),
        ("019-1234567", "+60191234567"),
        ("012\u00a0345\u00a06789", "+60123456789"),  # non-breaking spaces from copy-paste
        # International numbers in E.164 are kept as typed, separators removed.
        ("+6591234567", "+6591234567"),
        ("+44 7700 900123", "+447700900123"),
        ("+12025550123", "+12025550123"),
        ("+123456789012345", "+123456789012345"),  # 15 digits, the E.164 maximum
        ("+12345678", "+12345678"),  # 8 digits, the minimum accepted
    ],
)
def test_accepted_forms(raw, e164):
    assert normalise_msisdn(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "012-345678",  # one digit short
        "012-34567890",  # one digit long for 012
        "011-2345678",  # 011 needs 8 digits
        "011-234567890",
        "015-46001234",  # IP telephony, not SMS-capable
        "03-21234567",  # Kuala Lumpur landline
        "+60 3-2123 4567",
        "123456789",
        "12-3456789",
        "+1234567",  # 7 digits: too short
        "+1234567890123456",  # 16 digits: too long
        "+0123456789",
        "+",
        "0123456789a",
        "012-345-678x",
        "+60-12-345-678",
        "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",  # Arabic-Indic digits
        "0０１２３４５６７８９",
        "++60123456789",
        "0060123456789",
    ],
)
def test_rejected_forms(raw):
    with pytest.raises(ValueError, match="number"):
        normalise_msisdn(raw)


@pytest.mark.parametrize(
    ("ic", "digits"),
    [
        ("900101-14-5678", "900101145678"),
        ("900101145678", "900101145678"),
        ("900101 14 5678", "900101145678"),  # as printed on the card, spaced
        (" 900101-14-5678 ", "900101145678"),
        ("000229-10-1234", "000229101234"),  # 2000 was a leap year
        ("251122-01-0001", "251122010001"),  # born today: 2025
        ("251123-01-0001", "251123010001"),  # tomorrow in 2025, so 1925
        ("991231-99-9999", "991231999999"),
        ("010101-01-0001", "010101010001"),
        ("960229-08-1234", "960229081234"),
    ],
)
def test_valid_mykad(ic, digits):
    assert validate_mykad(ic, TODAY) == digits


@pytest.mark.parametrize(
    "ic",
    [
        "",
        "90010114567",  # 11 digits
        "9001011456789",  # 13 digits
        "900101  14 5678",  # one separator at a time
        "900101-14 5678-",
        "900101/14/5678",
        "90-0101-14-5678",
        "A00101-14-5678",
        "901301-14-5678",  # month 13
        "900001-14-5678",  # month 0
        "900100-14-5678",  # day 0
        "900132-14-5678",  # day 32
        "900230-14-5678",  # 30 February
        "010229-14-5678",  # 2001 and 1901 are not leap years
        "900101-00-5678",  # place of birth 00
        "\u0669\u0660\u0660\u0661\u0660\u0661145678",  # non-ASCII digits
    ],
)
def test_invalid_mykad(ic):
    with pytest.raises(ValueError):
        validate_mykad(ic, TODAY)


def test_mykad_century_follows_today():
    assert validate_mykad("300615-01-0001", date(2031, 1, 1)) == "300615010001"
    # Before 2000 a 20YY date would be in the future, so 19YY; but 99 from 1998 is ahead.
    with pytest.raises(ValueError, match="future"):
        validate_mykad("990101-01-0001", date(1998, 6, 1))
