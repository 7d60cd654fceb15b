"""Both languages are whole: every message the code, templates and scripts ask for has its
English and Russian text, no page shows words that bypass the catalog, and money, numbers and
dates come out in the locale's form."""

from datetime import date

from babel.messages.catalog import Message

from kassa.common import i18n, i18n_tools


def test_the_catalogs_are_complete_and_nothing_shown_bypasses_them():
    problems = i18n_tools.problems()
    assert problems == [], "\n".join(problems[:60]) + (
        f"\n... and {len(problems) - 60} more" if len(problems) > 60 else "")


def test_a_template_with_words_outside_the_catalog_is_caught():
    source = """{% extends "base.html" %}
<h1>{{ _("Sales") }}</h1>
<p>{% trans n=3 %}{{ n }} lines{% endtrans %}</p>
<label>Cash received <input placeholder="for example 5000.00" title="{{ _('Cash') }}"></label>
<span>{{ user.name }} · {{ shift.number }}</span>
<button type="submit">OK <kbd>Enter</kbd></button>"""
    assert i18n_tools.template_text(source) == [(4, "Cash received"), (4, "for example 5000.00")]


def test_a_script_with_words_outside_the_catalog_is_caught():
    source = """
const sel = document.querySelector("#scan"); const re = /[&<>"']/g;
say(t("Paid. Thank you!"), true);
say(`Change: ${amount(c)}`);
box.innerHTML = `<td>${esc(x)}</td><td>${t("Total")}</td><b>Receipt</b>`;
ask(tn("%(n)s point", "%(n)s points", n), "", null, "Spend points");
"""
    assert i18n_tools.script_text(source) == [
        (4, "Change: \x00"), (5, "Receipt"), (6, "Spend points")]


def test_a_translation_that_drops_or_invents_a_value_is_caught():
    good = Message("Change: %(amount)s", "Сдача: %(amount)s", locations=[("a.js", 1)])
    dropped = Message("Change: %(amount)s", "Сдача", locations=[("a.js", 1)])
    invented = Message("Total", "Итого %(x)s", locations=[("a.js", 1)])
    lone = Message("50%% off", "скидка 50%", locations=[("a.html", 1)])
    plural = Message(("%(n)s point", "%(n)s points"), ("%(n)s балл", "%(n)s балла", "баллов"),
                     locations=[("a.js", 1)])
    assert i18n_tools._placeholder_mismatch(good) is None
    assert i18n_tools._placeholder_mismatch(plural) is None  # a form may leave the number out
    assert "drops" in i18n_tools._placeholder_mismatch(dropped)
    assert "unknown" in i18n_tools._placeholder_mismatch(invented)
    assert "lone %" in i18n_tools._placeholder_mismatch(lone)


def test_money_numbers_and_dates_in_each_locale():
    assert i18n.format_money(123450, "RUB", "ru") == "1\xa0234,50\xa0₽"
    assert i18n.format_money(-1250, "RUB", "ru") == "-12,50\xa0₽"
    assert i18n.format_money(123450, "RUB", "en") == "RUB\xa01,234.50"
    assert i18n.format_money(999, "EUR", "en") == "€9.99"
    assert i18n.format_amount(100000000, "ru") == "1\xa0000\xa0000,00"
    assert i18n.format_amount(5, "en") == "0.05"
    assert i18n.format_day(date(2026, 11, 27), "ru") == "27 нояб. 2026\u202fг."
    assert i18n.format_day(date(2026, 11, 27), "en") == "Nov 27, 2026"


def test_the_catalog_translates_outside_a_request():
    assert i18n.translations("ru").gettext("Sign in") == "Вход"
    assert i18n.translations("de").gettext("Sign in") == "Sign in"  # unknown: English
