// The analytics page: segment sizes over the analysis runs (stacked bars) and the moves
// between the last two; a store's weekly demand for a product with the forecast. api(),
// say() and cell() come from ops.js; t() and formatDate() from i18n.js; plotly is served by
// central.
"use strict";

const LAYOUT = {margin: {l: 50, r: 10, t: 10, b: 40}, height: 300, font: {size: 12},
  paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: {orientation: "h"},
  separators: I18N.decimal + I18N.group};
const CONFIG = {displayModeBar: false, responsive: true, locale: plotlyLocale()};
// The analysis names its segments (rfm_segments) in English, each name its own message:
// t(name) puts one into the page's language. Their colours, by that name.
const SEGMENT_COLOURS = {
  [t("Champions")]: "#1b5e20", [t("Loyal")]: "#43a047", [t("Potential loyalists")]: "#9ccc65",
  [t("New")]: "#29b6f6", [t("At risk")]: "#ffa726", [t("Can't lose them")]: "#e65100",
  [t("Hibernating")]: "#90a4ae", [t("Lost")]: "#546e7a",
};
const METHODS = {seasonal_naive: t("seasonal naive"), damped_trend: t("damped trend"),
  holt_winters: t("holt winters")};
// A movement's "(new)": not scored in the run before; "(none)": not scored now.
const segmentName = (name) => (name === "(new)" ? t("(new)") : name === "(none)" ? t("(none)")
  : name && t(name));
const day = (iso) => formatDate(`${String(iso).slice(0, 10)}T00:00`);  // a date, not a moment

// Plotly's dates (the demand chart's weeks) in the page's language: month names from the
// browser's Intl, registered as a plotly locale under the page's language.
function plotlyLocale() {
  if (!window.Plotly || I18N.locale === "en") return "en";
  const names = (options, count, date) => [...Array(count).keys()].map((i) =>
    new Intl.DateTimeFormat(I18N.locale, {...options, timeZone: "UTC"}).format(date(i)));
  const month = (i) => new Date(Date.UTC(2021, i, 1));
  const weekday = (i) => new Date(Date.UTC(2021, 0, 3 + i));  // 3 January 2021 was a Sunday
  Plotly.register({moduleType: "locale", name: I18N.locale, format: {
    months: names({month: "long"}, 12, month), shortMonths: names({month: "short"}, 12, month),
    days: names({weekday: "long"}, 7, weekday), shortDays: names({weekday: "short"}, 7, weekday),
    decimal: I18N.decimal, thousands: I18N.group,
    dayMonth: "%-d %b", dayMonthYear: "%-d %b %Y", month: "%b %Y", year: "%Y",
  }});
  return I18N.locale;
}

function decimal(value, digits, options = {}) {
  return new Intl.NumberFormat(I18N.locale, {maximumFractionDigits: digits, ...options}).format(value);
}

async function segments() {
  const {sizes, movements, runs} = await api("GET", "/api/v1/analytics/segments");
  const names = [...new Set(sizes.map((s) => s.segment))];
  const traces = names.map((name) => ({
    type: "bar", name: segmentName(name), marker: {color: SEGMENT_COLOURS[segmentName(name)]},
    x: runs.map(day),
    y: runs.map((d) => (sizes.find((s) => s.as_of === d && s.segment === name) || {}).customers || 0),
  }));
  Plotly.react("chart-segments", traces, {...LAYOUT, barmode: "stack", xaxis: {type: "category"}}, CONFIG);
  $("#movements tbody").replaceChildren(...movements.filter((m) => m.from !== m.to).map((m) => {
    const tr = document.createElement("tr");
    [segmentName(m.from), segmentName(m.to)].forEach((v) => tr.append(cell(v)));
    tr.append(cell(decimal(m.customers, 0), "n"));
    return tr;
  }));
  if (!movements.length) {
    const tr = document.createElement("tr");
    tr.append(cell(t("One run so far.")));
    $("#movements tbody").replaceChildren(tr);
  }
}

// Each lifetime-value run with what it fitted (or why it fitted nothing), newest first.
async function lifetimeRuns() {
  const {runs} = await api("GET", "/api/v1/analytics/lifetime-runs");
  const params = (...values) => values.map((v) => decimal(v, 4)).join(", ");
  $("#lifetime-runs tbody").replaceChildren(...runs.map((r) => {
    const tr = document.createElement("tr");
    tr.append(cell(day(r.as_of)), cell(decimal(r.horizon_days, 0), "n"),
      cell(t("%(n)s (%(repeat)s repeat)", {n: decimal(r.customers, 0), repeat: decimal(r.repeat_customers, 0)}), "n"));
    if (r.skipped) {
      const why = cell(t("not fitted: %(reason)s", {reason: r.skipped}));
      why.colSpan = 4;
      tr.append(why);
    } else {
      tr.append(cell(params(r.bgnbd_r, r.bgnbd_alpha, r.bgnbd_a, r.bgnbd_b)),
        cell(decimal(r.bgnbd_log_likelihood, 1), "n"),
        cell(params(r.gamma_gamma_p, r.gamma_gamma_q, r.gamma_gamma_v)),
        cell(decimal(r.gamma_gamma_log_likelihood, 1), "n"));
    }
    return tr;
  }));
  if (!runs.length) {
    const tr = document.createElement("tr");
    tr.append(cell(t("No run yet: customers are scored once a day.")));
    $("#lifetime-runs tbody").replaceChildren(tr);
  }
}

async function demand() {
  const f = $("#demand-form");
  const q = new URLSearchParams({store_code: f.store_code.value, sku: f.sku.value, weeks: f.weeks.value});
  const d = await api("GET", "/api/v1/analytics/demand?" + q);
  $("#demand-csv").href = "/api/v1/analytics/demand?" + q + "&format=csv";
  const err = d.error[d.beats_baseline ? "model" : "baseline"];
  const method = METHODS[d.method] ?? d.method.replace("_", " ");
  const mae = decimal(err.mae, 2, {minimumFractionDigits: 2});
  $("#demand-summary").textContent = [
    t("%(sku)s at %(store)s: trend %(trend)s a week", {sku: d.sku, store: d.store_code,
      trend: decimal(d.trend_per_week, 3, {signDisplay: "exceptZero"})}),
    d.beats_baseline ? t("forecast by %(method)s", {method})
      : t("forecast by %(method)s (no model beat the same-week-last-year baseline)", {method}),
    err.wape === null ? t("error on the last weeks: %(mae)s a week", {mae})
      : t("error on the last weeks: %(mae)s a week, %(wape)s %%", {mae, wape: Math.round(err.wape * 100)}),
  ].join(" · ");
  Plotly.react("chart-demand", [
    {type: "bar", name: t("Sold"), x: d.weeks.map((w) => w.week), y: d.weeks.map((w) => w.quantity), marker: {color: "#1565c0"}},
    {type: "scatter", mode: "lines+markers", name: t("Forecast"), x: d.forecast.map((w) => w.week), y: d.forecast.map((w) => w.quantity), line: {color: "#ef6c00", dash: "dot"}},
  ], LAYOUT, CONFIG);
}

(function init() {
  if ($("#segments")) segments().catch((e) => say(e.message));
  if ($("#lifetime")) lifetimeRuns().catch((e) => say(e.message));
  $("#demand-form").addEventListener("submit", (ev) => { ev.preventDefault(); demand().catch((e) => say(e.message)); });
  demand().catch((e) => say(e.message));
})();
