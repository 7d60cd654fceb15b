"""Keeping the catalogs whole: extract the messages from the code, templates and scripts,
bring both ``.po`` files in line with them (``kassa i18n update``), and find what is not
translated (``kassa i18n check``, and ``tests/unit/test_translations.py``).

What counts as a message: ``_()``/``gettext``/``ngettext``/``lazy_gettext`` in Python and
templates, ``{% trans %}`` blocks, ``t()``/``tn()`` in scripts, and the first argument of a
refusal (``Conflict("...")`` and the other ``KassaError`` classes), whose sentence the web layer
translates. What counts as untranslated: text a person reads in a template or a script
(element text, ``title``/``placeholder``/``alt``/``aria-label`` attributes, phrases in
script strings) that none of those wraps.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import re
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment

from kassa.common.i18n import LANGUAGE_NAMES, LOCALES, SOURCE, catalog_files

PACKAGE = SOURCE.parent
REFUSALS = ("KassaError", "NotFound", "Unauthorized", "Forbidden", "Conflict", "Invalid",
            "NodeNotInitialized", "OfferEnded", "ReturnRefused", "OverrideRequired",
            "ShiftClosed", "CardRefused", "CentralAuthorizationRequired", "UnknownProduct",
            "LoyaltyRefused", "SignInRequired", "SeqGap", "LedgerError", "LedgerConflict",
            "FiscalRefused", "FiscalNoAnswer", "FiscalMismatch")
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "t": None, "tn": (1, 2),
            **{name: None for name in REFUSALS}}
# Python: what a person at a till, on a page or in a document reads. The command line, the
# sync protocol and the card's own code speak to operators and programs, in English.
METHODS = [("**/templates/**.html", "jinja2"), ("**/doc_templates/**.html", "jinja2"),
           ("**/static/**.js", "kassa.common.i18n_tools:extract_script"),
           ("**/migrations/**.py", "ignore"), ("central/replication/ingest.py", "ignore"),
           ("central/**.py", "python"), ("pos_node/**.py", "python"),
           ("loyalty/**.py", "python"), ("common/**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trimmed": "true"},
           "**/doc_templates/**.html": {"trimmed": "true"}}
ATTRIBUTES = ("title", "placeholder", "alt", "aria-label", "label")
# Words that stay as they are in every language: the product's name, key caps.
UNTRANSLATED_OK = {"kassa", "kassa central", "Enter", "Esc", "Tab", "Ctrl", "Shift", "Alt", "Ins",
                   "PIN", "SKU", "VAT", "ID", "CSV", "PDF", "OK", "QR", "EAN", "API", "URL"}
LETTERS = re.compile(r"[^\W\d_]{2,}")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extract() -> tuple[Catalog, list[str]]:
    """Every message the code, templates and scripts ask for, with where they ask; and the
    f-strings given where a message belongs (Babel cannot take those)."""
    template = Catalog(project="kassa", fuzzy=False)
    warnings = io.StringIO()
    with contextlib.redirect_stderr(warnings):
        found = list(extract_from_dir(str(PACKAGE), METHODS, OPTIONS, KEYWORDS,
                                      comment_tags=("i18n:",), strip_comment_tags=True))
    skipped = [f"{Path(line.split(': warning')[0]).relative_to(PACKAGE.parent)}: an f-string "
               "where a message belongs: write 'text %(name)s', name=value"
               for line in warnings.getvalue().splitlines() if "Skipping f-string" in line]
    for filename, lineno, message, comments, context in found:
        path = str(Path("kassa") / filename)
        if isinstance(message, tuple) and len(message) == 1:
            message = message[0]
        if not message or (isinstance(message, tuple) and not all(message)):
            continue
        existing = template.get(message[0] if isinstance(message, tuple) else message, context)
        if existing is not None:
            existing.locations.append((path, lineno))
            continue
        template.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return template, skipped


SCRIPT_CALL = re.compile(r'\b(tn?)\(\s*"((?:[^"\\\n]|\\.)*)"(?:\s*,\s*"((?:[^"\\\n]|\\.)*)")?')


def extract_script(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, str | tuple[str, str], list[str]]]:
    """Babel extraction for the pages' scripts: every ``t("...")`` and ``tn("...", "...")``,
    inside template literals' ``${...}`` too (Babel's own JavaScript extractor does not look
    there, nor into a quoted attribute within one)."""
    source = fileobj.read().decode("utf-8")
    for m in SCRIPT_CALL.finditer(source):
        name, first, second = m.groups()
        lineno = source.count("\n", 0, m.start()) + 1
        text = json.loads(f'"{first}"')
        if name == "tn" and second is not None:
            yield lineno, "ngettext", (text, json.loads(f'"{second}"')), []
        elif name == "t":
            yield lineno, "gettext", text, []


def update(fills: dict[str, dict[str, str | list[str]]] | None = None) -> dict[str, int]:
    """Bring each ``.po`` in line with the sources, keeping translations and dropping what
    the code no longer asks; ``fills`` adds translations ({locale: {msgid: text or forms}}).
    English messages are their own text. Locks each file, so several editors may run it.
    Returns how many messages each catalog lacks a translation for."""
    fills = fills or {}
    template, _skipped = extract()
    missing = {}
    for loc, path in catalog_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        with path.open("r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            text = f.read()
            catalog = read_po(io.BytesIO(text), locale=loc) if text.strip() else \
                Catalog(locale=loc, project="kassa", fuzzy=False)
            catalog.update(copy.deepcopy(template), no_fuzzy_matching=True,
                           update_header_comment=False)
            catalog.obsolete.clear()
            catalog.fuzzy = False
            _header(catalog, loc)
            for m in catalog:
                if m.id:
                    _fill(m, loc, fills.get(loc, {}))
            missing[loc] = sum(1 for m in catalog if m.id and not _complete(m))
            out = io.BytesIO()
            write_po(out, catalog, width=100, sort_by_file=False, omit_header=False,
                     include_previous=False)
            f.seek(0)
            f.truncate()
            f.write(out.getvalue())
    return missing


# A fixed date in the header: an update that changes no message changes no byte.
_HEADER_DATE = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _header(catalog: Catalog, loc: str) -> None:
    catalog.header_comment = (
        f"# kassa's messages in {LANGUAGE_NAMES[loc]}: English ids, and their text.\n"
        "# Kept in line with the code by `kassa i18n update`; checked by `kassa i18n check`.")
    catalog.project, catalog.version = "kassa", "1"
    catalog.msgid_bugs_address = catalog.copyright_holder = ""
    catalog.last_translator = catalog.language_team = "the kassa team"
    catalog.creation_date = catalog.revision_date = _HEADER_DATE


def _fill(message: Message, loc: str, fill: dict[str, str | list[str]]) -> None:
    message.flags.discard("fuzzy")
    key = message.id[0] if isinstance(message.id, tuple) else message.id
    if loc == "en":
        message.string = message.id
        return
    if key in fill:
        value = fill[key]
        message.string = tuple(value) if isinstance(message.id, tuple) else value


def _complete(message: Message) -> bool:
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(forms) and all(forms) and "fuzzy" not in message.flags


def problems() -> list[str]:
    """Everything that keeps the catalogs from being whole, one line each."""
    template, found = extract()
    wanted = {m.id if not isinstance(m.id, tuple) else m.id[0] for m in template if m.id}
    for loc, path in catalog_files().items():
        if not path.exists():
            found.append(f"{path}: missing (run `kassa i18n update`)")
            continue
        with path.open("rb") as f:
            catalog = read_po(f, locale=loc)
        have = {m.id if not isinstance(m.id, tuple) else m.id[0]: m for m in catalog if m.id}
        for msgid in sorted(wanted - have.keys()):
            found.append(f"{loc}: not in the catalog (run `kassa i18n update`): {msgid!r}")
        for msgid in sorted(have.keys() - wanted):
            found.append(f"{loc}: in the catalog but no longer used: {msgid!r}")
        for msgid, m in sorted(have.items()):
            if not _complete(m):
                found.append(f"{loc}: not translated: {msgid!r}")
            elif (bad := _placeholder_mismatch(m)):
                found.append(f"{loc}: {bad}: {msgid!r}")
    found += untranslated_text()
    return found


def _placeholder_mismatch(message: Message) -> str | None:
    # read_po gives an id and a translation as a str, or a tuple for a plural (never the list
    # Babel's types allow), and callers pass complete translations only (no None).
    assert isinstance(message.id, (str, tuple)) and isinstance(message.string, (str, tuple))
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    for form in forms:
        have = set(PLACEHOLDER.findall(form))
        if have - wanted:
            return f"unknown placeholder {sorted(have - wanted)}"
        # A plural form may leave out the number ("one" item), never a name.
        if (wanted - have) - ({"n"} if len(forms) > 1 else set()):
            return f"translation drops {sorted(wanted - have)}"
        # Templates and scripts always fill placeholders in, so a percent sign is written %%
        # there; a refusal's sentence is filled in only when it has values.
        shown = any(where.endswith((".html", ".js")) for where, _ in message.locations)
        if shown and form.count("%") - 2 * form.count("%%") != len(PLACEHOLDER.findall(form)):
            return "a lone % (write %% for a percent sign)"
    return None


# --- untranslated text in templates and scripts ------------------------------------------------

def untranslated_text() -> list[str]:
    found = []
    for path in sorted(PACKAGE.glob("**/templates/**/*.html")) + \
            sorted(PACKAGE.glob("**/doc_templates/**/*.html")):
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}: untranslated {text!r}"
                  for line, text in template_text(path.read_text())]
    for path in sorted(PACKAGE.glob("**/static/**/*.js")):
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}: untranslated {text!r}"
                  for line, text in script_text(path.read_text())]
    return found


def _readable(text: str) -> bool:
    text = " ".join(text.replace("\x00", " ").split())
    return bool(LETTERS.search(text)) and text not in UNTRANSLATED_OK and not all(
        w in UNTRANSLATED_OK or not LETTERS.search(w) for w in re.split(r"[\s·:/()+,.-]+", text))


class _TextFinder(HTMLParser):
    """Text nodes and readable attributes of an HTML fragment, outside script and style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            readable = name in ATTRIBUTES or (name == "value" and tag in ("button",)) or \
                (name == "value" and dict(attrs).get("type") in ("submit", "button"))
            if readable and value and _readable(value):
                self.found.append((self.getpos()[0], value.strip()))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and _readable(data):
            self.found.append((self.getpos()[0], " ".join(data.split())))


_LEXER_ENV = Environment(extensions=["jinja2.ext.i18n"])


def template_text(source: str) -> list[tuple[int, str]]:
    """(line, text) of what a Jinja template shows untranslated. Jinja's own expressions and
    ``{% trans %}`` blocks are left out: the data between them is read as HTML."""
    pieces, depth, previous, lines = [], 0, None, 1
    for lineno, kind, value in _LEXER_ENV.lex(source):
        if kind == "name" and previous == "block_begin":
            depth += value == "trans"
            depth -= value == "endtrans"
        if lineno > lines:  # keep the lines where they were, for the report
            pieces.append("\n" * (lineno - lines))
            lines = lineno
        if kind == "data" and depth == 0:
            pieces.append(value)
            lines += value.count("\n")
        elif kind != "data" and not (pieces and pieces[-1].endswith("\x00")):
            pieces.append("\x00")  # an expression: a value, not words
        previous = kind if kind != "whitespace" else previous
    return [(line, text.replace("\x00", "…")) for line, text in _fragment_text("".join(pieces))]


def script_text(source: str) -> list[tuple[int, str]]:
    """(line, text) of readable strings in a script that ``t()``/``tn()`` does not wrap."""
    found = []
    for start, kind, body in _literals(source):
        before = source[:start].rstrip()
        line = source.count("\n", 0, start) + 1
        if kind != "`" and (re.search(r"\b(t|tn)\($", before) or
                            re.search(r"\btn\(\s*\"[^\"]*\",$", before)):
            continue
        if kind == "`" and re.search(r"\b(t|tn)\($", before):
            found.append((line, "t() takes a plain string, not a template literal"))
            continue
        if "<" in body:
            found += [(line + n - 1, text) for n, text in _fragment_text(body)]
        elif _phrase(body):
            found.append((line, body))
    return found


def _fragment_text(html: str) -> list[tuple[int, str]]:
    finder = _TextFinder()
    finder.feed(html)
    finder.close()
    return finder.found


TECHNICAL = re.compile(r"^([#./\[:@]|use strict$|[a-z-]+/[a-z0-9.+-]+$|[A-Z][a-z]+(-[A-Z][a-z]+)+$|"
                       r"(Arrow|Page)?(Up|Down|Left|Right|Home|End|Escape|Enter|Backspace|Delete|"
                       r"Tab)$|F\d+$)")


def _phrase(text: str) -> bool:
    """A string a person would read: words with a space, or a capitalised word."""
    text = text.replace("\x00", " ").strip()
    if not _readable(text) or TECHNICAL.match(text):
        return False
    return bool(re.search(r"[^\W\d_]{2,}\s+[^\W\d_]", text) or re.match(r"^[A-Z][a-z]{2,}", text))


def _literals(source: str) -> Iterator[tuple[int, str, str]]:
    """(offset, quote, text) of each string literal in a script, comments and regular
    expressions skipped; a template literal's ``${...}`` parts become ``\\x00`` and are read
    as script themselves."""
    i, n = 0, len(source)
    last = ""  # the last significant character, to tell a regex's / from a division
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
            continue
        if source.startswith("/*", i):
            i = source.find("*/", i) + 2
            continue
        if c == "/" and (last == "" or last in "(,=:[!&|?{};+-*%<>~^" or
                         re.search(r"\b(return|typeof|case)\s*$", source[:i])):
            i = _skip_regex(source, i)
            last = "x"
            continue
        if c in "'\"":
            j = i + 1
            while j < n and source[j] != c:
                j += 2 if source[j] == "\\" else 1
            yield i, c, source[i + 1:j]
            i, last = j + 1, "x"
            continue
        if c == "`":
            j, text, inner = _template(source, i + 1)
            yield i, "`", text
            for offset, code in inner:
                for k, kind, body in _literals(code):
                    yield offset + k, kind, body
            i, last = j + 1, "x"
            continue
        if not c.isspace():
            last = c
        i += 1


def _template(source: str, j: int) -> tuple[int, str, list[tuple[int, str]]]:
    """A template literal from ``j`` (just after its backquote): where it ends, its text with
    each ``${...}`` as ``\\x00``, and those parts' offsets and code."""
    text: list[str] = []
    inner: list[tuple[int, str]] = []
    while j < len(source):
        if source[j] == "\\":
            text.append(source[j:j + 2])
            j += 2
        elif source.startswith("${", j):
            end = _matching_brace(source, j + 1)
            inner.append((j + 2, source[j + 2:end]))
            text.append("\x00")
            j = end + 1
        elif source[j] == "`":
            break
        else:
            text.append(source[j])
            j += 1
    return j, "".join(text), inner


def _skip_regex(source: str, i: int) -> int:
    j, in_class = i + 1, False
    while j < len(source) and source[j] != "\n":
        if source[j] == "\\":
            j += 2
            continue
        if source[j] == "[":
            in_class = True
        elif source[j] == "]":
            in_class = False
        elif source[j] == "/" and not in_class:
            return j + 1
        j += 1
    return j


def _matching_brace(source: str, open_at: int) -> int:
    depth, j = 0, open_at
    while j < len(source):
        if source[j] in "'\"`":
            quote, j = source[j], j + 1
            while j < len(source) and source[j] != quote:
                if quote == "`" and source.startswith("${", j):
                    j = _matching_brace(source, j + 1)
                j += 2 if source[j] == "\\" else 1
        elif source[j] == "{":
            depth += 1
        elif source[j] == "}":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return j


def read_fills(paths: list[Path]) -> dict[str, dict[str, str | list[str]]]:
    """``{"ru": {msgid: text or [forms]}}`` files, merged."""
    merged: dict[str, dict[str, str | list[str]]] = {loc: {} for loc in LOCALES}
    for p in paths:
        for loc, entries in json.loads(p.read_text()).items():
            merged.setdefault(loc, {}).update(entries)
    return merged
