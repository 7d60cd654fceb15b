"""CSV cells a spreadsheet shows as text: text starting like a formula (``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is quoted with an apostrophe, so a customer's or a web
form's text cannot run as a formula on a manager's machine. Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

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
