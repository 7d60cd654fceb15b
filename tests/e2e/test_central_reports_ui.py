"""The managers' reports page in a real browser against real processes: a sale made at a real
till shows in the figures and the chart (plotly, served by central itself: no network), the
CSV link downloads the same rows, and a regional manager sees only their region. The sales chart
at two widths, in English and Russian: bars across stores, a line only across days, whole-number
ticks for receipts, every label inside the chart and clear of its neighbours; a chain over two
time zones says so."""

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import run_kassa
from tests.helpers import sign_in_central

pytestmark = pytest.mark.e2e


def test_the_morning_reports_show_todays_sales(browser, page, stack):
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    till.post(stack["node"] + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=10)
    for sku in ("3001", "1001"):
        till.post(stack["node"] + "/api/v1/cart/lines", json={"sku": sku, "quantity": 1},
                  timeout=10)
    assert till.post(stack["node"] + "/api/v1/cart/checkout", timeout=10, json={
        "payments": [{"method": "card", "amount": 157990, "reference": "RRN2"}]}
    ).status_code == 201
    run_kassa("pos", "sync-now", env=stack["node_env"])

    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + "/ops/reports")
    expect(page.locator("#kpis .kpi", has_text="Revenue")).to_contain_text("1,579.90")
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text("S001")
    expect(page.locator("#chart-sales .main-svg").first).to_be_visible()  # plotly drew
    href = page.locator("section[data-report=sales] a.csv").get_attribute("href")
    csv_text = page.request.get(stack["central"] + href).text()
    assert csv_text.startswith("key,receipts,revenue_minor") and "S001,1,157990" in csv_text
    page.locator("#report-period select[name=group]").select_option("hour")
    page.locator("#report-period button[type=submit]").click()
    expect(page.locator("section[data-report=sales] thead")).to_contain_text("Receipts")
    page.locator("#report-period select[name=group]").select_option("store")
    page.locator("#report-period button[type=submit]").click()
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text("S001")

    page.context.clear_cookies()
    sign_in_central(page, stack["central"], "rm-spb", stack["users"]["rm-spb"]["password"])
    page.goto(stack["central"] + "/ops/reports")
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text(
        "Nothing in this period")


def sell_at_the_till(stack, times: int) -> None:
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    till.post(stack["node"] + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=10)
    for _ in range(times):
        till.post(stack["node"] + "/api/v1/cart/lines", json={"sku": "1001", "quantity": 1},
                  timeout=10)
        assert till.post(stack["node"] + "/api/v1/cart/checkout", timeout=10, json={
            "payments": [{"method": "cash", "amount": 8990}]}).status_code == 201
    run_kassa("pos", "sync-now", env=stack["node_env"])


# What the page can check of a drawn chart: each trace's type and axis, the receipts axis's
# tick labels, and the boxes of every text in the chart (ticks, axis titles, legend).
CHART = """(id) => {
  const gd = document.getElementById(id);
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const texts = (sel) => [...gd.querySelectorAll(sel)].filter((el) => el.textContent.trim())
    .map((el) => ({text: el.textContent, ...box(el)}));
  return {traces: gd.data.map((d) => [d.type, d.yaxis || "y"]), chart: box(gd),
    y2ticks: texts(".y2tick text"), yticks: texts(".ytick text"), xticks: texts(".xtick text"),
    y2title: texts(".g-y2title text"), ytitle: texts(".g-ytitle text"),
    legend: texts(".legend text")};
}"""


def overlap(a, b) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] \
        and b["top"] < a["bottom"]


def check_sales_chart(page, expect_types):
    page.wait_for_function("document.querySelector('#chart-sales .y2tick')")
    drawn = page.evaluate(CHART, "chart-sales")
    assert drawn["traces"] == expect_types
    labels = [t["text"] for t in drawn["y2ticks"]]
    # Receipts are counted: whole numbers, each tick once (not "0, 1, 1, 2, 2" or "0,838").
    assert labels and all(label.isdigit() for label in labels), labels
    assert len(set(labels)) == len(labels), labels
    texts = [t for key in ("y2ticks", "yticks", "xticks", "y2title", "ytitle", "legend")
             for t in drawn[key]]
    inside = drawn["chart"]
    for t in texts:  # nothing cut off at the chart's edges
        assert inside["left"] <= t["left"] + 0.5 and t["right"] <= inside["right"] + 0.5, t
        assert inside["top"] <= t["top"] + 0.5 and t["bottom"] <= inside["bottom"] + 0.5, t
    for title, ticks in (("y2title", "y2ticks"), ("ytitle", "yticks")):  # titles clear of ticks
        assert drawn[title] and not any(overlap(drawn[title][0], tick) for tick in drawn[ticks])
    for legend in drawn["legend"]:
        assert not any(overlap(legend, t) for t in drawn["xticks"] + drawn["yticks"])
    return labels


def test_the_sales_chart_fits_at_two_widths_in_both_languages(browser, page, stack):
    sell_at_the_till(stack, 3)
    for n, source in enumerate(("vk", "vk", "yandex")):  # leads, and a call-back task each
        assert requests.post(stack["central"] + "/api/v1/public/leads", timeout=10, json={
            "name": f"Lead {n}", "phone": f"+7912345678{n}", "store_code": "S001",
            "fill_ms": 4000, "utm_source": source}).status_code == 202
    office = ("office", stack["users"]["office"]["password"])
    # The chain over two time zones: the page says so.
    assert requests.patch(stack["central"] + "/api/v1/stores/2", auth=office, timeout=10,
                          json={"timezone": "Asia/Yekaterinburg"}).status_code == 200
    sign_in_central(page, stack["central"], *office)
    try:
        for lang, note in (("en", "2 time zones"), ("ru", "2 часовых поясах")):
            for width in (1280, 800):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(stack["central"] + "/ops/reports")
                if lang == "ru" and page.locator("html").get_attribute("lang") != "ru":
                    page.click("a[data-lang=ru]")
                expect(page.locator("html")).to_have_attribute("lang", lang)
                expect(page.locator("#zones-note")).to_contain_text(note)
                expect(page.locator("#zones-note")).to_contain_text("Asia/Yekaterinburg")
                expect(page.locator("section[data-report=sales] tbody")).to_contain_text("S001")
                check_sales_chart(page, [["bar", "y"], ["bar", "y2"]])  # stores: two bars
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # fits
                for chart in ("chart-leads", "chart-tasks"):  # counts: whole numbers
                    ticks = [t["text"] for t in page.evaluate(CHART, chart)["yticks"]]
                    assert ticks and all(t.isdigit() for t in ticks), (chart, ticks)
                page.shot_of(page, "35-central-reports" + ("-ru" if lang == "ru" else "")
                             + ("" if width == 1280 else f"-{width}"))
                page.locator("#report-period select[name=group]").select_option("day")
                page.locator("#report-period button[type=submit]").click()
                expect(page.locator("section[data-report=sales] thead")).to_contain_text(
                    "Day" if lang == "en" else "День")
                check_sales_chart(page, [["bar", "y"], ["scatter", "y2"]])  # days: a line
    finally:
        page.click("a[data-lang=en]")  # as the other tests expect the office
        requests.patch(stack["central"] + "/api/v1/stores/2", auth=office, timeout=10,
                       json={"timezone": "Europe/Moscow"})
