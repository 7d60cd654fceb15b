"""Printed documents from templates: a Jinja template writes simple HTML (headings,
paragraphs, tables), fpdf2 lays it out as PDF. The till's receipt and central's quotes and
invoices are made this way, so a document's wording and layout live in its template
(``kassa/common/doc_templates``), not in drawing code.

DejaVu Sans (Debian's fonts-dejavu-core) carries Cyrillic; where it is missing a core font is
used and the document's subject says so.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kassa.common.money import format_minor

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_ENV = Environment(loader=PackageLoader("kassa.common", "doc_templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True)
_ENV.filters["money"] = format_minor


def render_html(template: str, **context) -> str:
    return _ENV.get_template(template).render(**context)


def render_pdf(template: str, *, title: str, page: tuple[float, float] | str = "A4",
               margin: float = 15, font_size: float = 10, **context) -> bytes:
    """The template filled with ``context``, as a PDF of the given page size (mm or a name)."""
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
    doc.write_html(render_html(template, **context), font_family=family)
    return bytes(doc.output())
