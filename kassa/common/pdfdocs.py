"""Printed documents from templates: a Jinja template writes simple HTML (headings,
paragraphs, tables), fpdf2 lays it out as PDF. The till's receipt and central's quotes and
invoices are made this way, so a document's wording and layout live in its template
(``kassa/common/doc_templates``), not in drawing code.

DejaVu Sans (Debian's fonts-dejavu-core) carries Cyrillic; where it is missing a core font is
used and the document's subject says so.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kassa.common import i18n

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@lru_cache(maxsize=8)
def _env(locale: str, currency: str) -> Environment:
    """Documents are written in the language they are for (the store's, the customer's), not
    the one of whoever asks: each language has its own environment."""
    env = Environment(loader=PackageLoader("kassa.common", "doc_templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    env.policies["ext.i18n.trimmed"] = True
    # jinja2.ext.i18n adds this method when the environment is made; its types do not say.
    env.install_gettext_translations(  # type: ignore[attr-defined]
        i18n.translations(locale), newstyle=True)
    env.filters["amount"] = lambda minor: i18n.format_amount(minor, locale)
    env.filters["money"] = lambda minor: i18n.format_money(minor, currency, locale)
    env.filters["date"] = lambda d: i18n.format_day(d, locale)
    env.filters["datetime"] = lambda d: i18n.format_moment(d, locale)
    return env


def render_html(template: str, *, locale: str = i18n.DEFAULT_LOCALE,
                currency: str = i18n.DEFAULT_CURRENCY, **context: Any) -> str:
    return _env(locale, currency).get_template(template).render(**context)


def render_pdf(template: str, *, title: str, page: tuple[float, float] | str = "A4",
               margin: float = 15, font_size: float = 10, locale: str = i18n.DEFAULT_LOCALE,
               currency: str = i18n.DEFAULT_CURRENCY, **context: Any) -> bytes:
    """The template filled with ``context``, as a PDF of the given page size (mm or a name),
    in ``locale`` with amounts in ``currency``."""
    from fpdf import FPDF  # 0.1-0.2 s of imports (fontTools) every process would pay at start
    doc = FPDF(format=page, unit="mm")
    doc.set_margins(margin, margin, margin)
    doc.set_auto_page_break(True, margin)
    family = "helvetica"
    if (FONT_DIR / "DejaVuSans.ttf").exists():
        doc.add_font("dejavu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        doc.add_font("dejavu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        family = "dejavu"
    else:
        doc.set_subject("fonts-dejavu-core missing: Latin letters only")
    doc.set_title(title)
    doc.add_page()
    doc.set_font(family, size=font_size)
    doc.write_html(render_html(template, locale=locale, currency=currency, **context),
                   font_family=family)
    return bytes(doc.output())
