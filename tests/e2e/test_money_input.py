"""The money field's reading of what people type (kassa/common/static/money.js), in the
browser that runs it, in English and Russian number forms: the parser is a table of what
cashiers and office staff actually type. The fields themselves are typed into in
test_till_ui.py and the office's tests."""

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

STATIC = Path(__file__).resolve().parents[2] / "kassa" / "common" / "static"
FORMS = {"en": {"locale": "en", "decimal": ".", "group": ","},
         "ru": {"locale": "ru", "decimal": ",", "group": "\u00a0"}}


@pytest.fixture(scope="module", params=sorted(FORMS))
def parse(request, browser):
    page = browser.new_page()
    scripts = "".join(f"<script>{(STATIC / name).read_text()}</script>"
                      for name in ("i18n.js", "money.js"))
    page.set_content(f'<script id="i18n" type="application/json">{json.dumps(FORMS[request.param])}'
                     f"</script>{scripts}")
    yield request.param, lambda text: page.evaluate("(text) => parseAmount(text)", text)
    page.close()


@pytest.mark.parametrize(("typed", "minor"), [
    ("5000", 500000), ("5 000", 500000), ("5\u00a0000", 500000), ("5000,5", 500050),
    ("5000.5", 500050), ("5,000.50", 500050), ("5.000,50", 500050), ("5 000,00", 500000),
    ("1 000 000", 100000000), ("1,000,000", 100000000), ("1.000.000", 100000000),
    ("0,5", 50), (",5", 50), ("  89.90 ", 8990), ("0", 0), ("007", 700),
])
def test_what_people_type_is_read_as_they_mean_it(parse, typed, minor):
    _, read = parse
    assert read(typed) == {"minor": minor}


@pytest.mark.parametrize(("typed", "says"), [
    ("5.000", "could be"),           # five, or five thousand?
    ("50 00", "groups of three"), ("5,00.50", "groups of three"),
    ("1 000.000,5", "groups of three"),
    ("0,838", "at most two decimals"), ("5000,123", "at most two decimals"),
    ("5000.", "not an amount"), ("1oo", "not an amount"), (".", "not an amount"),
    ("5,0,0", "groups of three"), ("-5", "negative"), ("\u22125", "negative"),
    ("12345678901", "too large"),
])
def test_what_could_mean_two_things_or_nothing_is_refused(parse, typed, says):
    _, read = parse
    assert says in read(typed)["error"]


def test_five_comma_thousand_is_thousands_only_where_a_comma_groups_them(parse):
    language, read = parse
    if language == "en":
        assert read("5,000") == {"minor": 500000}
    else:
        assert "5\u00a0000,00 or 5,00" in read("5,000")["error"]


def test_nothing_typed_is_nothing(parse):
    _, read = parse
    assert read("") == {"empty": True}
    assert read("   ") == {"empty": True}
