"""CSV cells a spreadsheet shows as text: text starting like a formula (``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is quoted with an apostrophe, so a customer's or a web
form's text cannot run as a formula on a manager's machine. Numbers stay numbers."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text
