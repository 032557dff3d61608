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


def translate(locale: str, key: str, **values) -> str:
    text = catalog(locale).get(key) or catalog("en").get(key) or key
    return text.format(**values) if values else text


def negotiate(tenant, ui_locales: str | None = None, preferred: str | None = None) -> str:
    for candidate in (ui_locales or "").split() + [preferred or ""]:
        language = candidate.split("-")[0].lower()
        if language in tenant.locales:
            return language
    return tenant.default_locale
