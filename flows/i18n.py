"""Translation catalogs (translations/<locale>.json) and locale negotiation.

User-facing words live in the catalogs, not in code. `ui_locales` (OIDC Core 3.1.2.1, or a
language link on the page) wins, then the browser's preference (Accept-Language), then the
tenant's default language.
"""
import json
from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent / "translations"


@cache
def catalog(locale: str) -> dict:
    path = _DIR / f"{locale}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _text(locale: str, key: str) -> str:
    return catalog(locale).get(key) or catalog("en").get(key) or key


def translate(locale: str, key: str, **values) -> str:
    text = _text(locale, key)
    return text.format(**values) if values else text


class _PageValues(dict):
    def __missing__(self, name):  # a page's text whose other values this caller does not show
        return "{" + name + "}"


def page_text(tenant, locale: str):
    """`t(key, **values)` for a page in `locale`: `{helpdesk}` is the tenant's own sentence on
    where to get help (KWSP's counters, KWAP's online helpdesk), else the catalog's. Offered to
    every text of the page, so a text's other placeholders without a value stay as written
    (messages sent by SMS or email use `translate`, which refuses that)."""
    helpdesk = tenant.helpdesk_in(locale) or translate(locale, "helpdesk.default")
    return lambda key, **values: _text(locale, key).format_map(_PageValues(values, helpdesk=helpdesk))


def negotiate(tenant, ui_locales: str | None = None, preferred: str | None = None) -> str:
    """`preferred`: the tenant locale the browser likes best (flows.views.request_locale)."""
    for candidate in (ui_locales or "").split() + [preferred or ""]:
        language = candidate.split("-")[0].lower()
        if language in tenant.locales:
            return language
    return tenant.default_locale
