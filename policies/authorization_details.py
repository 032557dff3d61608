"""Rich Authorization Requests (RFC 9396): a portal describes the transaction the user approves
(`authorization_details`), checked against the types its tenant declares.

A declared type names its fields and their kinds; an object of an unknown type, with an unknown
or missing field, or a value of the wrong kind is refused (`invalid_authorization_details`,
RFC 9396 section 5). Values are returned normalised, so the SMS, the page and the tokens all
show the same thing.
"""
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .result import PolicyResult

FIELD_KINDS = ("money", "string", "period", "integer")
MAX_DETAILS = 5
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class DetailType:
    name: str
    labels: dict          # locale -> what the user approves, e.g. "i-Akaun withdrawal application"
    fields: dict          # field -> kind (FIELD_KINDS)
    required: tuple = ()


def _money(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError
    amount = Decimal(str(value))
    if not amount.is_finite() or amount <= 0 or amount > Decimal("1000000000") or amount.as_tuple().exponent < -2:
        raise ValueError
    return f"{amount:.2f}"


def _string(value):
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
        raise ValueError
    return value


def _period(value):
    if not isinstance(value, str) or not _PERIOD.match(value):
        raise ValueError
    return value


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**12:
        raise ValueError
    return value


_CHECKS = {"money": _money, "string": _string, "period": _period, "integer": _integer}


def validate(details, types: dict[str, DetailType]) -> tuple[PolicyResult, list[dict]]:
    """(verdict, normalised details). Reasons name the object index and field."""
    if not isinstance(details, list) or not 1 <= len(details) <= MAX_DETAILS:
        return PolicyResult.fail(f"must be a JSON array of 1 to {MAX_DETAILS} objects"), []
    reasons, out = [], []
    for index, detail in enumerate(details):
        if not isinstance(detail, dict) or not isinstance(detail.get("type"), str) or detail["type"] not in types:
            reasons.append(f"[{index}]: unknown type")
            continue
        declared = types[detail["type"]]
        clean = {"type": declared.name}
        for field in detail.keys() - {"type"} - declared.fields.keys():
            reasons.append(f"[{index}].{field}: not a field of {declared.name}")
        for field in declared.required:
            if field not in detail:
                reasons.append(f"[{index}].{field}: required")
        for field, kind in declared.fields.items():
            if field in detail:
                try:
                    clean[field] = _CHECKS[kind](detail[field])
                except (ValueError, InvalidOperation):
                    reasons.append(f"[{index}].{field}: not a valid {kind}")
        out.append(clean)
    return (PolicyResult.fail(*reasons), []) if reasons else (PolicyResult.ok(), out)


def describe(detail: dict, declared: DetailType, locale: str) -> str:
    """One line for the SMS and the page: "i-Akaun withdrawal application RM 5,000.00 (1234-5678)"."""
    label = declared.labels.get(locale) or next(iter(declared.labels.values()), declared.name)
    amounts = [f"RM {Decimal(detail[f]):,.2f}"
               for f, kind in declared.fields.items() if kind == "money" and f in detail]
    others = [str(detail[f]) for f, kind in declared.fields.items() if kind != "money" and f in detail]
    # values without field names read the same in every language
    return " ".join([label, *amounts, *([f"({', '.join(others)})"] if others else [])])
