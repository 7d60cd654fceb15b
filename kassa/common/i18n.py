"""Languages and local forms: the message catalogs, how a request's language is chosen, and
money, numbers and dates the way the locale writes them.

The catalogs are ``kassa/translations/<locale>/LC_MESSAGES/messages.po``: English message ids,
complete in English and Russian (``tests/unit/test_translations.py`` fails otherwise). They are
compiled at start into ``$KASSA_VAR_DIR/i18n/<digest>/`` (``.mo`` for Flask-Babel, and the
messages the pages' scripts use as JSON), so an edited ``.po`` is what runs, with no build
step to forget. Both apps, the printed documents and the mail share them.

Where the language comes from: a till speaks its store's language (screen, customer display,
receipt); on central's pages a signed-in user's own setting, else the browser's; on the
customer's page their choice, else the browser's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, list_currencies
from babel.support import Translations
from flask import Blueprint, Flask, request
from flask_babel import Babel, get_locale
from markupsafe import Markup

from kassa.common.config import var_dir

LOCALES = ("en", "ru")
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}  # each in its own language, for a switch
DEFAULT_LOCALE = "en"
DEFAULT_CURRENCY = "RUB"
SOURCE = Path(__file__).resolve().parent.parent / "translations"
AMOUNT_FORMAT = "#,##0.00"
CURRENCIES = tuple(sorted(c for c in list_currencies() if len(c) == 3 and c.isupper()))

# The pages' scripts get their messages and the locale's number forms from here (i18n.js).
bp = Blueprint("i18n", __name__, static_folder="static", static_url_path="/static/i18n",
               template_folder="templates")


COMPILED_FORMAT = b"scripts per app\n"


def catalog_files() -> dict[str, Path]:
    return {loc: SOURCE / loc / "LC_MESSAGES" / "messages.po" for loc in LOCALES}


def compiled_dir() -> Path:
    """The compiled catalogs for the ``.po`` files as they are now (made once per content)."""
    files = catalog_files()
    # The format of what is written counts too: a new kassa never reads an old layout.
    digest = hashlib.sha256(COMPILED_FORMAT + b"".join(p.read_bytes() for p in files.values())
                            ).hexdigest()[:16]
    target = var_dir() / "i18n" / digest
    if not (target / "done").exists():
        for loc, po in files.items():
            with po.open("rb") as f:
                catalog = read_po(f, locale=loc)
            out = target / loc / "LC_MESSAGES"
            out.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            write_mo(buffer, catalog)
            _write_atomic(out / "messages.mo", buffer.getvalue())
            # Each app's pages carry the messages of their own scripts (and common's), not
            # the other app's: a till page has no use for the office's words.
            scripts: dict[str, dict[str, str | list[str]]] = {app: {} for app in SCRIPT_APPS}
            for m in catalog:
                if not (m.id and m.string):
                    continue
                key = str(m.id[0] if isinstance(m.id, (tuple, list)) else m.id)
                text = list(m.string) if isinstance(m.string, tuple) else m.string
                for app in _script_apps(m.locations):
                    scripts[app][key] = text
            _write_atomic(out / "scripts.json", json.dumps(scripts, ensure_ascii=False).encode())
        _write_atomic(target / "done", b"")
    return target


# The apps whose pages have scripts; a message of kassa/common's scripts goes to each.
SCRIPT_APPS = ("central", "pos_node")


def _script_apps(locations: list[tuple[str, int]]) -> set[str]:
    apps: set[str] = set()
    for path, _line in locations:
        parts = Path(path).parts
        if path.endswith(".js") and len(parts) > 1:
            apps.update(SCRIPT_APPS if parts[1] == "common" else {parts[1]} & set(SCRIPT_APPS))
    return apps


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_bytes(data)
    os.replace(temp, path)  # workers starting together each write the same bytes


@lru_cache(maxsize=8)
def _scripts(directory: str, locale: str, app: str) -> dict[str, str | list[str]]:
    # What compiled_dir wrote for the app's scripts: message id -> its text, or plural forms.
    path = Path(directory) / locale / "LC_MESSAGES" / "scripts.json"
    scripts: dict[str, str | list[str]] = json.loads(path.read_text())[app]
    return scripts


@lru_cache(maxsize=8)
def translations(locale: str) -> Translations:
    """The catalog for work outside a request (documents, mail, jobs)."""
    with (compiled_dir() / _supported(locale) / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        return Translations(fp=f)


def _supported(locale: str | None) -> str:
    base = (locale or "").replace("-", "_").split("_")[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def browser_locale() -> str:
    return request.accept_languages.best_match(LOCALES) or DEFAULT_LOCALE


def current_locale() -> str:
    """The language of the request being served (``en`` outside one)."""
    try:
        return str(get_locale() or DEFAULT_LOCALE)
    except RuntimeError:
        return DEFAULT_LOCALE


def init_app(app: Flask, locale_selector: Callable[[], str | None],
             currency_selector: Callable[[], str | None] = lambda: None, *,
             scripts: str) -> None:
    """Flask-Babel with kassa's catalogs; ``locale_selector`` names the request's language
    (None: the browser's). Templates get ``money``/``amount``/``date``/``datetime`` filters in
    the request's locale and ``i18n_script_data()`` for the page's scripts: the messages of
    the ``scripts`` app's own (``central`` or ``pos_node``) and common's."""
    directory = compiled_dir()

    def select() -> str:
        return _supported(locale_selector() or browser_locale())

    def currency() -> str:
        return currency_selector() or DEFAULT_CURRENCY

    Babel(app, locale_selector=select, default_translation_directories=str(directory))
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.register_blueprint(bp)
    app.extensions["kassa_currency"] = currency
    env = app.jinja_env
    env.filters["amount"] = lambda minor: format_amount(minor, current_locale())
    env.filters["money"] = lambda minor: format_money(minor, currency(), current_locale())
    env.filters["date"] = lambda d: format_day(d, current_locale())
    env.filters["datetime"] = lambda d: format_moment(d, current_locale())
    env.globals["i18n_script_data"] = lambda: script_data(directory, current_locale(),
                                                          currency(), scripts)
    env.globals["html_lang"] = current_locale
    env.globals["languages"] = LANGUAGE_NAMES


@lru_cache(maxsize=16)  # every page carries it: made once per language and currency
def script_data(directory: Path, locale: str, currency: str, app: str) -> Markup:
    """What ``i18n.js`` reads: the language, its number forms, the currency pattern and the
    catalog's messages for scripts, as JSON safe inside ``<script type=application/json>``."""
    loc = Locale.parse(locale)
    data = {"locale": locale, "decimal": loc.number_symbols["latn"]["decimal"],
            "group": loc.number_symbols["latn"]["group"],
            "money": money_pattern(currency, locale),
            "plural": PLURAL_CATEGORIES[locale],
            "messages": _scripts(str(directory), locale, app)}
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return Markup(text)


# Which CLDR plural category (Intl.PluralRules in the browser) is which gettext form.
PLURAL_CATEGORIES = {"en": ["one", "other"], "ru": ["one", "few", "many"]}


def format_amount(minor: int, locale: str) -> str:
    """An amount without its currency (receipt lines, tables): ``1,234.50`` / ``1 234,50``."""
    return format_decimal(Decimal(minor) / 100, format=AMOUNT_FORMAT, locale=locale)


@lru_cache(maxsize=32)
def money_pattern(currency: str, locale: str) -> str:
    """The locale's way of writing an amount in ``currency``, with ``%(amount)s`` in place of
    the number. Babel writes a code-like symbol right against the digits (``RUB1.00``); CLDR
    asks for a space there, so one is put in."""
    sample = format_currency(Decimal(1), currency, locale=locale)
    number = format_decimal(Decimal(1), format=AMOUNT_FORMAT, locale=locale)
    before, _, after = sample.partition(number)
    if before[-1:].isalpha():
        before += "\u00a0"
    if after[:1].isalpha():
        after = "\u00a0" + after
    return f"{before}%(amount)s{after}"


def format_money(minor: int, currency: str, locale: str) -> str:
    """An amount with its currency: ``RUB 1,234.50`` / ``1 234,50 ₽``; minus in front."""
    text = money_pattern(currency, locale) % {"amount": format_amount(abs(minor), locale)}
    return f"-{text}" if minor < 0 else text


def format_day(value: date | datetime | str | None, locale: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_date(value, format="medium", locale=locale)


# A moment on paper the customer keeps: the day spelt so no reader can swap day and month.
PRINTED_MOMENT = {"ru": "dd.MM.yyyy HH:mm"}
PRINTED_MOMENT_DEFAULT = "d MMM yyyy HH:mm"


def format_printed_moment(value: datetime, locale: str) -> str:
    """``7 Dec 2026 15:42`` (English), ``07.12.2026 15:42`` (Russian): never ``12/7/26``."""
    return format_datetime(value, PRINTED_MOMENT.get(locale, PRINTED_MOMENT_DEFAULT),
                           locale=locale)


def format_moment(value: datetime | str | None, locale: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_printed_moment(value, locale)
