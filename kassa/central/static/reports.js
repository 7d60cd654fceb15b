// The reports page: each section is one report of /api/v1/reports, drawn with plotly (served
// by central itself) and listed as a table; its CSV link asks the same report as CSV.
// api(), say() and cell() come from ops.js.
"use strict";

const MONEY_COLUMNS = /_minor$/;
const LABELS = {
  key: "", receipts: "Receipts", revenue_minor: "Revenue", average_receipt_minor: "Avg receipt",
  items: "Items", items_per_receipt: "Items/receipt", loyalty_revenue_minor: "Loyalty revenue",
  loyalty_share: "Loyalty share", returns: "Returns", returns_minor: "Returned",
  returns_rate: "Returns rate", points: "Points", requested: "Requested", approved: "Approved",
  declined: "Declined", expired: "Expired", pending: "Pending", leads: "Leads",
  converted: "Bought", conversion: "Conversion", on_time: "On time", late: "Late",
  overdue: "Overdue", open: "Open",
};
const LAYOUT = {margin: {l: 60, r: 10, t: 10, b: 40}, height: 260, font: {size: 12},
  paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: {orientation: "h"}};
const CONFIG = {displayModeBar: false, responsive: true};

function show(column, value) {
  if (value === null || value === undefined) return null;
  if (MONEY_COLUMNS.test(column)) return (value / 100).toFixed(2);
  if (/(share|rate|conversion)$/.test(column)) return `${(value * 100).toFixed(1)} %`;
  return value;
}

function query(extra = {}) {
  const f = $("#report-period");
  return new URLSearchParams({from: f.from.value, to: f.to.value, ...extra}).toString();
}

function table(section, rows, keyLabel) {
  // The API's JSON comes with its keys sorted: lay the columns out in LABELS' order.
  const present = rows.length ? Object.keys(rows[0]) : ["key"];
  const columns = Object.keys(LABELS).filter((c) => present.includes(c))
    .concat(present.filter((c) => !(c in LABELS)));
  const head = document.createElement("tr");
  columns.forEach((c) => head.append(cell(c === "key" ? keyLabel : (LABELS[c] ?? c), c === "key" ? "" : "n")));
  section.querySelector("thead").replaceChildren(head);
  section.querySelector("tbody").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    columns.forEach((c) => tr.append(cell(show(c, r[c]), c === "key" ? "" : "n")));
    return tr;
  }));
  if (!rows.length) section.querySelector("tbody").innerHTML = `<tr><td>Nothing in this period.</td></tr>`;
}

function draw(id, traces, layout = {}) {
  const empty = traces.every((t) => !t.x.length);
  document.getElementById(id).hidden = empty;  // no axes around nothing
  if (window.Plotly && !empty) Plotly.react(id, traces, {...LAYOUT, ...layout}, CONFIG);
}

const CHARTS = {
  sales: (rows) => draw("chart-sales", [
    {type: "bar", name: "Revenue", x: rows.map((r) => String(r.key)), y: rows.map((r) => r.revenue_minor / 100), marker: {color: "#1565c0"}},
    {type: "scatter", mode: "lines+markers", name: "Receipts", yaxis: "y2", x: rows.map((r) => String(r.key)), y: rows.map((r) => r.receipts), marker: {color: "#ef6c00"}},
  ], {yaxis: {title: {text: "revenue"}}, yaxis2: {overlaying: "y", side: "right", title: {text: "receipts"}}}),
  points: (rows) => draw("chart-points", [{type: "bar", x: rows.map((r) => r.key), y: rows.map((r) => r.points), marker: {color: "#2e7d32"}}]),
  leads: (rows) => draw("chart-leads", [
    {type: "bar", name: "Leads", x: rows.map((r) => r.key), y: rows.map((r) => r.leads), marker: {color: "#6a1b9a"}},
    {type: "bar", name: "Bought", x: rows.map((r) => r.key), y: rows.map((r) => r.converted), marker: {color: "#2e7d32"}}]),
  tasks: (rows) => draw("chart-tasks", ["on_time", "late", "overdue", "open"].map((k, i) => ({
    type: "bar", name: LABELS[k], x: rows.map((r) => r.key), y: rows.map((r) => r[k]),
    marker: {color: ["#2e7d32", "#f9a825", "#c62828", "#90a4ae"][i]}})), {barmode: "stack"}),
};

function kpis(sales, points) {
  const t = sales.totals;
  const items = [["Revenue", show("x_minor", t.revenue_minor)], ["Receipts", t.receipts],
    ["Average receipt", show("x_minor", t.average_receipt_minor)],
    ["Loyalty share", show("share", t.loyalty_share)], ["Returns rate", show("rate", t.returns_rate)],
    ["Points liability", show("x_minor", points.totals.liability_minor)]];
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
    const keyLabel = {sales: group, points: "", leads: "source", authorizations: "kind",
      tasks: "assignee"}[name];
    table(section, report.rows, keyLabel.charAt(0).toUpperCase() + keyLabel.slice(1));
    section.querySelector("a.csv").href = `/api/v1/reports/${name}?${query({...extra, format: "csv"})}`;
    if (CHARTS[name]) CHARTS[name](report.rows);
  }
  kpis(answers.sales, answers.points);
}

(function init() {
  const f = $("#report-period");
  const today = new Date().toISOString().slice(0, 10);
  const week = new Date(Date.now() - 6 * 86400000).toISOString().slice(0, 10);
  f.from.value = week;
  f.to.value = today;
  f.addEventListener("submit", (ev) => { ev.preventDefault(); refresh().catch((e) => say(e.message)); });
  refresh().catch((e) => say(e.message));
})();
