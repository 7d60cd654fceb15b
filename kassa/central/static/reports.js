// The reports page: each section is one report of /api/v1/reports, drawn with plotly (served
// by central itself) and listed as a table; its CSV link asks the same report as CSV.
// api(), say() and cell() come from ops.js; t(), amount(), money() and formatDate() from
// i18n.js.
"use strict";

const MONEY_COLUMNS = /_minor$/;
const LABELS = {
  key: "", receipts: t("Receipts"), revenue_minor: t("Revenue"),
  average_receipt_minor: t("Avg receipt"), items: t("Items"), items_per_receipt: t("Items/receipt"),
  loyalty_revenue_minor: t("Loyalty revenue"), loyalty_share: t("Loyalty share"),
  returns: t("Returns"), returns_minor: t("Returned"), returns_rate: t("Returns rate"),
  points: t("Points"), requested: t("Requested"), approved: t("Approved"), declined: t("Declined"),
  expired: t("Expired"), pending: t("Pending"), leads: t("Leads"), converted: t("Bought"),
  conversion: t("Conversion"), on_time: t("On time"), late: t("Late"), overdue: t("Overdue"),
  open: t("Open"),
};
// What the first column of each report holds (sales: what they are grouped by).
const KEY_LABELS = {
  store: t("Store"), region: t("Region"), day: t("Day"), hour: t("Hour"), cashier: t("Cashier"),
  points: "", leads: t("Source"), authorizations: t("Kind"), tasks: t("Assignee"),
};
// The points report's rows are named in English, each name its own message: t(key) puts one
// into the page's language. (Listed here to be in the catalog.)
const POINTS_ROWS = [t("issued"), t("burned"), t("expired"), t("taken back on returns"),
  t("given back on returns")];
const AUTHORIZATION_KINDS = {refund: t("refund"), blind_return: t("blind return"),
  discount: t("discount"), price_override: t("price override"),
  blocked_customer: t("blocked customer")};
// Margins grow to what the tick labels and axis titles need (automargin on every axis), so
// nothing is cut off at any width; the legend sits above the plot, clear of the x labels.
const LAYOUT = {margin: {l: 8, r: 8, t: 28, b: 8, pad: 2}, height: 260, font: {size: 12},
  paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  legend: {orientation: "h", x: 0, y: 1, xanchor: "left", yanchor: "bottom"},
  separators: I18N.decimal + I18N.group,
  xaxis: {type: "category", automargin: true}, yaxis: {automargin: true, rangemode: "tozero"}};
const CONFIG = {displayModeBar: false, responsive: true};

function decimal(value, digits) {
  return new Intl.NumberFormat(I18N.locale, {maximumFractionDigits: digits}).format(value);
}

function show(column, value) {
  if (value === null || value === undefined) return null;
  if (MONEY_COLUMNS.test(column)) return amount(value);
  if (/(share|rate|conversion)$/.test(column)) {
    return new Intl.NumberFormat(I18N.locale, {minimumFractionDigits: 1, maximumFractionDigits: 1})
      .format(value * 100) + " %";
  }
  return typeof value === "number" ? decimal(value, 2) : value;
}

// A report's key as the page shows it: a day in the locale's way, the reports' own words
// translated; hours, codes, names and sources as they are.
function keyText(report, value, group) {
  if (value === null || value === undefined) return null;
  if (report === "sales" && group === "day" && /^\d{4}-\d{2}-\d{2}/.test(value)) {
    return formatDate(String(value).slice(0, 10));  // the store's day, shown as that day
  }
  if (report === "points") return t(String(value));  // one of POINTS_ROWS
  if (report === "authorizations") return AUTHORIZATION_KINDS[value] ?? String(value).replace("_", " ");
  if (value === "(none)") return t("(none)");  // sales by cashier: sold with nobody signed in
  if (value === "(nobody)") return t("(nobody)");  // tasks: not assigned
  if (report === "leads" && value === "unknown") return t("unknown");
  return String(value);
}

function query(extra = {}) {
  const f = $("#report-period");
  return new URLSearchParams({from: f.from.value, to: f.to.value, ...extra}).toString();
}

function table(section, rows, keyLabel, report, group) {
  // The API's JSON comes with its keys sorted: lay the columns out in LABELS' order.
  const present = rows.length ? Object.keys(rows[0]) : ["key"];
  const columns = Object.keys(LABELS).filter((c) => present.includes(c))
    .concat(present.filter((c) => !(c in LABELS)));
  const head = document.createElement("tr");
  columns.forEach((c) => head.append(cell(c === "key" ? keyLabel : (LABELS[c] ?? c), c === "key" ? "" : "n")));
  section.querySelector("thead").replaceChildren(head);
  section.querySelector("tbody").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    columns.forEach((c) => tr.append(c === "key" ? cell(keyText(report, r.key, group)) : cell(show(c, r[c]), "n")));
    return tr;
  }));
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.append(cell(t("Nothing in this period.")));
    section.querySelector("tbody").replaceChildren(tr);
  }
}

function draw(id, traces, layout = {}) {
  const empty = traces.every((trace) => !trace.x.length);
  document.getElementById(id).hidden = empty;  // no axes around nothing
  const axes = {xaxis: {...LAYOUT.xaxis, ...layout.xaxis}, yaxis: {...LAYOUT.yaxis, ...layout.yaxis}};
  if (window.Plotly && !empty) Plotly.react(id, traces, {...LAYOUT, ...layout, ...axes}, CONFIG);
}

// An axis of counts (receipts, leads, tasks, points): whole-number ticks only, a step of 1, 2
// or 5 times a power of ten giving at most about five of them (never 0, 0.5, 1 shown as
// "0, 1, 1").
function countAxis(values, extra = {}) {
  const top = Math.max(1, ...values), bottom = Math.min(0, ...values);
  const rough = (top - bottom) / 5;
  const power = 10 ** Math.floor(Math.log10(Math.max(rough, 1)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  return {tickmode: "linear", tick0: 0, dtick: step, tickformat: ",d", automargin: true,
    range: [Math.floor(bottom / step) * step, (Math.ceil(top / step) + 0.2) * step], ...extra};
}

// A category axis is at least four categories wide: one store's bars are not half the chart.
function categoryRange(n) {
  return n < 4 ? [(n - 1) / 2 - 2, (n - 1) / 2 + 2] : undefined;
}

// Stores, regions and cashiers are categories: revenue and receipts are side by side bars on
// two axes. Days and hours run in order: receipts are a line over the revenue bars.
const ORDERED_GROUPS = new Set(["day", "hour"]);

const CHARTS = {
  sales: (rows, group) => {
    const x = rows.map((r) => keyText("sales", r.key, group));
    const receipts = rows.map((r) => r.receipts);
    const ordered = ORDERED_GROUPS.has(group);
    draw("chart-sales", [
      {type: "bar", name: t("Revenue"), x, y: rows.map((r) => r.revenue_minor / 100), marker: {color: "#1565c0"},
        offsetgroup: "revenue"},
      ordered
        ? {type: "scatter", mode: "lines+markers", name: t("Receipts"), yaxis: "y2", x, y: receipts, marker: {color: "#ef6c00"}}
        : {type: "bar", name: t("Receipts"), yaxis: "y2", x, y: receipts, marker: {color: "#ef6c00"}, offsetgroup: "receipts"},
    ], {barmode: "group", xaxis: {range: ordered ? undefined : categoryRange(x.length)}, yaxis: {title: {text: t("revenue"), standoff: 10}, tickformat: ",~r"},
      yaxis2: countAxis(receipts, {overlaying: "y", side: "right", showgrid: false,
        title: {text: t("receipts"), standoff: 10}})});
  },
  // The points' rows have long names: bars lie down, their names read across on the left.
  points: (rows) => {
    const x = rows.map((r) => r.points);
    draw("chart-points", [{type: "bar", orientation: "h", y: rows.map((r) => keyText("points", r.key)), x, marker: {color: "#2e7d32"}}],
      {xaxis: countAxis(x, {type: "linear"}), yaxis: {type: "category", autorange: "reversed"}});
  },
  leads: (rows) => draw("chart-leads", [
    {type: "bar", name: t("Leads"), x: rows.map((r) => keyText("leads", r.key)), y: rows.map((r) => r.leads), marker: {color: "#6a1b9a"}},
    {type: "bar", name: t("Bought"), x: rows.map((r) => keyText("leads", r.key)), y: rows.map((r) => r.converted), marker: {color: "#2e7d32"}}],
    {xaxis: {range: categoryRange(rows.length)}, yaxis: countAxis(rows.map((r) => r.leads))}),
  tasks: (rows) => draw("chart-tasks", ["on_time", "late", "overdue", "open"].map((k, i) => ({
    type: "bar", name: LABELS[k], x: rows.map((r) => keyText("tasks", r.key)), y: rows.map((r) => r[k]),
    marker: {color: ["#2e7d32", "#f9a825", "#c62828", "#90a4ae"][i]}})),
    {barmode: "stack", legend: {...LAYOUT.legend, traceorder: "normal"}, xaxis: {range: categoryRange(rows.length)}, yaxis: countAxis(rows.map((r) => r.on_time + r.late + r.overdue + r.open))}),
};

function kpis(sales, points) {
  const totals = sales.totals;
  const cash = (minor) => (minor === null || minor === undefined ? null : money(minor));
  const items = [[t("Revenue"), cash(totals.revenue_minor)], [t("Receipts"), show("receipts", totals.receipts)],
    [t("Average receipt"), cash(totals.average_receipt_minor)],
    [t("Loyalty share"), show("share", totals.loyalty_share)],
    [t("Returns rate"), show("rate", totals.returns_rate)],
    [t("Points liability"), cash(points.totals.liability_minor)]];
  $("#kpis").replaceChildren(...items.map(([label, value]) => {
    const div = document.createElement("div");
    div.className = "kpi";
    div.innerHTML = `<span></span><b></b>`;
    div.firstChild.textContent = label;
    div.lastChild.textContent = value ?? "–";
    return div;
  }));
}

async function refresh() {
  const group = $("#report-period").group.value;
  const answers = {};
  for (const section of document.querySelectorAll("section.report")) {
    const name = section.dataset.report;
    const extra = name === "sales" ? {group} : {};
    const report = await api("GET", `/api/v1/reports/${name}?${query(extra)}`);
    answers[name] = report;
    const keyLabel = KEY_LABELS[name === "sales" ? group : name] ?? "";
    table(section, report.rows, keyLabel, name, group);
    section.querySelector("a.csv").href = `/api/v1/reports/${name}?${query({...extra, format: "csv"})}`;
    if (CHARTS[name]) CHARTS[name](report.rows, group);
  }
  kpis(answers.sales, answers.points);
  zonesNote(answers.sales.timezones || []);
}

// A report over stores in more than one time zone says so: each store's sales are on its own
// days, so "a day" is not the same hours for all of them.
function zonesNote(zones) {
  const note = $("#zones-note");
  note.hidden = zones.length < 2;
  note.textContent = zones.length < 2 ? "" : tn(
    "These stores are in %(n)s time zone: %(zones)s; each store's sales are on its own days.", "These stores are in %(n)s time zones: %(zones)s; each store's sales are on its own days.",
    zones.length, {zones: zones.join(", ")});
}

// Today on the reader's clock, as a date field wants it ("2026-12-07").
function isoDay(moment) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}

(function init() {
  const f = $("#report-period");
  // Today is the stores' day (the page says which), not the browser's: at 01:00 in Moscow a
  // browser on UTC is still on yesterday.
  const today = f.dataset.today || isoDay(new Date());
  const start = new Date(`${today}T12:00:00Z`);
  start.setUTCDate(start.getUTCDate() - 6);
  const week = start.toISOString().slice(0, 10);
  f.from.value = week;
  f.to.value = today;
  f.addEventListener("submit", (ev) => { ev.preventDefault(); refresh().catch((e) => say(e.message)); });
  refresh().catch((e) => say(e.message));
})();
