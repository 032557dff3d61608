import pytest

from policies.authorization_details import DetailType, describe, validate

WITHDRAWAL = DetailType("kwsp_withdrawal", {"ms": "permohonan pengeluaran i-Akaun", "en": "i-Akaun withdrawal application"},
                        {"amount": "money", "account": "string"}, ("amount", "account"))
PAYMENT = DetailType("perkeso_contribution_payment", {"en": "contribution payment"},
                     {"period": "period", "amount": "money"}, ("period", "amount"))
TYPES = {t.name: t for t in (WITHDRAWAL, PAYMENT)}


def test_valid_details_are_normalised():
    verdict, clean = validate([{"type": "kwsp_withdrawal", "amount": 5000, "account": "A-123"}], TYPES)
    assert verdict and clean == [{"type": "kwsp_withdrawal", "amount": "5000.00", "account": "A-123"}]


@pytest.mark.parametrize("details,reason", [
    ({"type": "kwsp_withdrawal"}, "JSON array"),
    ([], "JSON array"),
    ([{"type": "x"}], "unknown type"),
    (["not an object"], "unknown type"),
    ([{"type": "kwsp_withdrawal", "amount": 1}], "account: required"),
    ([{"type": "kwsp_withdrawal", "amount": -1, "account": "A"}], "amount: not a valid money"),
    ([{"type": "kwsp_withdrawal", "amount": "1.001", "account": "A"}], "amount: not a valid money"),
    ([{"type": "kwsp_withdrawal", "amount": "NaN", "account": "A"}], "amount: not a valid money"),
    ([{"type": "kwsp_withdrawal", "amount": True, "account": "A"}], "amount: not a valid money"),
    ([{"type": "kwsp_withdrawal", "amount": 1, "account": "A", "iban": "x"}], "iban: not a field"),
    ([{"type": "perkeso_contribution_payment", "period": "2026-13", "amount": 1}], "period: not a valid period"),
    ([{"type": "kwsp_withdrawal", "amount": 1, "account": "A"}] * 6, "JSON array"),
])
def test_invalid_details_are_refused_with_a_reason(details, reason):
    verdict, clean = validate(details, TYPES)
    assert not verdict and clean == []
    assert any(reason in r for r in verdict.reasons), verdict.reasons


def test_money_boundaries():
    assert validate([{"type": "perkeso_contribution_payment", "period": "2026-01", "amount": "0.01"}], TYPES)[0]
    assert not validate([{"type": "perkeso_contribution_payment", "period": "2026-01", "amount": "0"}], TYPES)[0]
    assert validate([{"type": "perkeso_contribution_payment", "period": "2026-01", "amount": "1000000000"}], TYPES)[0]
    assert not validate([{"type": "perkeso_contribution_payment", "period": "2026-01", "amount": "1000000000.01"}], TYPES)[0]


def test_description_names_the_transaction_in_the_users_language():
    detail = {"type": "kwsp_withdrawal", "amount": "5000.00", "account": "A-123"}
    assert describe(detail, WITHDRAWAL, "en") == "i-Akaun withdrawal application RM 5,000.00 (A-123)"
    assert describe(detail, WITHDRAWAL, "ms").startswith("permohonan pengeluaran i-Akaun RM 5,000.00")
