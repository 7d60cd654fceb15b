// The analytics page: segment sizes over the analysis runs (stacked bars) and the moves
// between the last two; a store's weekly demand for a product with the forecast. api(),
// say() and cell() come from ops.js; plotly is served by central.
"use strict";

const LAYOUT = {margin: {l: 50, r: 10, t: 10, b: 40}, height: 300, font: {size: 12},
  paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: {orientation: "h"}};
const CONFIG = {displayModeBar: false, responsive: true};
const SEGMENT_COLOURS = {
  "Champions": "#1b5e20", "Loyal": "#43a047", "Potential loyalists": "#9ccc65", "New": "#29b6f6",
  "At risk": "#ffa726", "Can't lose them": "#e65100", "Hibernating": "#90a4ae", "Lost": "#546e7a",
};

async function segments() {
  const {sizes, movements, runs} = await api("GET", "/api/v1/analytics/segments");
  const names = [...new Set(sizes.map((s) => s.segment))];
  const traces = names.map((name) => ({
    type: "bar", name, marker: {color: SEGMENT_COLOURS[name]},
    x: runs, y: runs.map((d) => (sizes.find((s) => s.as_of === d && s.segment === name) || {}).customers || 0),
  }));
  Plotly.react("chart-segments", traces, {...LAYOUT, barmode: "stack", xaxis: {type: "category"}}, CONFIG);
  $("#movements tbody").replaceChildren(...movements.filter((m) => m.from !== m.to).map((m) => {
    const tr = document.createElement("tr");
    [m.from, m.to].forEach((v) => tr.append(cell(v)));
    tr.append(cell(m.customers, "n"));
    return tr;
  }));
  if (!movements.length) $("#movements tbody").innerHTML = "<tr><td>One run so far.</td></tr>";
}

async function demand() {
  const f = $("#demand-form");
  const q = new URLSearchParams({store_code: f.store_code.value, sku: f.sku.value, weeks: f.weeks.value});
  const d = await api("GET", "/api/v1/analytics/demand?" + q);
  $("#demand-csv").href = "/api/v1/analytics/demand?" + q + "&format=csv";
  const err = d.error[d.beats_baseline ? "model" : "baseline"];
  $("#demand-summary").textContent = `${d.sku} at ${d.store_code}: trend ${d.trend_per_week >= 0 ? "+" : ""}${d.trend_per_week} a week · ` +
    `forecast by ${d.method.replace("_", " ")}` + (d.beats_baseline ? "" : " (no model beat the same-week-last-year baseline)") +
    ` · error on the last weeks: ${err.mae.toFixed(2)} a week` + (err.wape === null ? "" : `, ${(err.wape * 100).toFixed(0)} %`);
  Plotly.react("chart-demand", [
    {type: "bar", name: "Sold", x: d.weeks.map((w) => w.week), y: d.weeks.map((w) => w.quantity), marker: {color: "#1565c0"}},
    {type: "scatter", mode: "lines+markers", name: "Forecast", x: d.forecast.map((w) => w.week), y: d.forecast.map((w) => w.quantity), line: {color: "#ef6c00", dash: "dot"}},
  ], LAYOUT, CONFIG);
}

(function init() {
  if ($("#segments")) segments().catch((e) => say(e.message));
  $("#demand-form").addEventListener("submit", (ev) => { ev.preventDefault(); demand().catch((e) => say(e.message)); });
  demand().catch((e) => say(e.message));
})();
