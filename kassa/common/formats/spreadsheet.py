"""CSV to and from spreadsheets.

Out: cells a spreadsheet shows as text: text starting like a formula (``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is quoted with an apostrophe, so a customer's or a web
form's text cannot run as a formula on a manager's machine. Numbers stay numbers.

In: ``CsvTable`` reads an export from another system as people make them (a header line, commas
or semicolons, blank rows, columns in any order and case) and ``Problems`` collects what is
wrong with it, line by line, listing the first thousand.
"""

from __future__ import annotations

import csv
import io
import operator
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 1000  # a wholly wrong file need not list a million lines

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_text(rows: Sequence[Mapping[str, Any]], empty_columns: tuple[str, ...] = ("key",)) -> str:
    """Rows of one report as CSV: the first row's keys are the header, every cell safe."""
    out = io.StringIO()
    columns = list(rows[0]) if rows else list(empty_columns)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


@dataclass
class Problems:
    """What is wrong with a file: every problem counted, the first ``MAX_LISTED`` listed with
    their line, column (empty: the whole row) and reason."""

    errors_total: int = 0
    # The file could not be read to its end (its header, text that is not CSV, too many
    # rows): nothing of it may load, even where good rows load beside bad ones.
    unreadable: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set, repr=False)

    @property
    def bad_rows(self) -> int:
        return len(self.bad_lines)

    def error(self, line: int, column: str, message: str) -> None:
        self.errors_total += 1
        self.bad_lines.add(line)
        if len(self.errors) < MAX_LISTED:
            self.errors.append({"line": line, "field": column, "message": message})


class CsvTable:
    """The data rows of ``content`` as ``(line, {column: stripped cell})`` for the ``required``
    and ``optional`` columns (empty where the header does not name one). The delimiter is the
    header's: a semicolon when it has more of them than commas (as spreadsheets in Russian
    save). A header lacking a required column or naming one twice, a row longer than the
    header, text that is not CSV and rows past ``max_rows`` go to ``problems``; blank rows are
    skipped."""

    def __init__(self, content: str, required: Sequence[str], optional: Sequence[str],
                 problems: Problems, *, max_rows: int) -> None:
        end = content.find("\n")
        first_line = content if end < 0 else content[:end]
        self.delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        self.rows = 0  # data rows read
        self.ignored_columns: list[str] = []
        self._known = (*required, *optional)
        self._required = tuple(required)
        self._content, self._problems, self._max_rows = content, problems, max_rows

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        reader = csv.reader(io.StringIO(self._content), delimiter=self.delimiter)
        where = self._header(reader)
        if where is None:
            return
        width, line = len(self._header_cells), 1
        # Cells by column, a column the header does not name reading the padding's "".
        names = list(where)
        indexes = [i if i >= 0 else width for i in where.values()]
        pick = operator.itemgetter(*indexes, width)  # never a lone cell: always a tuple
        while True:
            line += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                self._problems.error(line, "", f"not CSV: {err}")
                self._problems.unreadable = True
                return  # the reader cannot find the next row reliably after this
            if not "".join(cells).strip():
                continue  # a blank line, or a spreadsheet's empty row of separators
            if self.rows >= self._max_rows:
                self._problems.error(line, "", f"more than {self._max_rows} rows")
                self._problems.unreadable = True
                return
            self.rows += 1
            if len(cells) > width:
                self._problems.error(line, "", f"{len(cells)} fields; the header has {width}")
                continue
            cells += [""] * (width + 1 - len(cells))
            yield line, dict(zip(names, map(str.strip, pick(cells)), strict=False))

    def _header(self, reader: Any) -> dict[str, int] | None:
        try:
            self._header_cells = [h.strip().lower() for h in next(reader, [])]
        except csv.Error as err:
            self._header_cells = []
            self._problems.error(1, "", f"the header is not CSV: {err}")
            self._problems.unreadable = True
            return None
        header = self._header_cells
        missing = [c for c in self._required if c not in header]
        twice = sorted(c for c, n in Counter(header).items() if c in self._known and n > 1)
        if missing:
            self._problems.error(1, ",".join(missing), "the header lacks these columns")
        if twice:
            self._problems.error(1, ",".join(twice), "these columns appear twice")
        if missing or twice:
            self._problems.unreadable = True
            return None
        self.ignored_columns = [h for h in header if h not in self._known][:20]
        # A column the header does not name reads as empty (-1).
        return {c: header.index(c) if c in header else -1 for c in self._known}
