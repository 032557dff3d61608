"""Translation catalogs (translations/<locale>.json) and locale negotiation.

User-facing words live in the catalogs, not in code. `ui_locales` (OIDC Core 3.1.2.1) wins,
then the tenant's default language.
"""
import json
from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent / "translations"


@cache
def catalog(locale: str) -> dict:
    path = _DIR / f"{locale}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


class _Values(dict):
    def __missing__(self, name):  # a placeholder this caller has no value for stays as written
        return "{" + name + "}"


def translate(locale: str, key: str, **values) -> str:
    text = catalog(locale).get(key) or catalog("en").get(key) or key
    return text.format_map(_Values(values)) if values else text


def page_text(tenant, locale: str):
    """`t(key, **values)` for a page in `locale`: `{helpdesk}` is the tenant's own sentence on
    where to get help (KWSP's counters, KWAP's online helpdesk), else the catalog's."""
    helpdesk = tenant.helpdesk_in(locale) or translate(locale, "helpdesk.default")
    return lambda key, **values: translate(locale, key, helpdesk=helpdesk, **values)


def negotiate(tenant, ui_locales: str | None = None, preferred: str | None = None) -> str:
    for candidate in (ui_locales or "").split() + [preferred or ""]:
        language = candidate.split("-")[0].lower()
        if language in tenant.locales:
            return language
    return tenant.default_locale
