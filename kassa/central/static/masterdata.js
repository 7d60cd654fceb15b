// The master-data page: each section is a table from the JSON API and a form that posts to it.
// api(), say() and cell() come from ops.js.
"use strict";

const ROLE = window.KASSA_ROLE;
const OPERATOR = ROLE === "admin" || ROLE === "central_office";
const money = (minor) => (minor / 100).toFixed(2);

function toMinor(text) {
  const m = String(text || "").trim().replace(",", ".").match(/^(\d{1,10})(?:\.(\d{1,2}))?$/);
  if (!m) throw new Error(`Not an amount: ${text}`);
  return parseInt(m[1], 10) * 100 + parseInt((m[2] || "0").padEnd(2, "0"), 10);
}

const localTime = (v) => (v ? (v.length === 16 ? `${v}:00` : v) : null);  // a wall-clock time
const instant = (v) => (v ? new Date(v).toISOString() : null);           // this browser's zone
const orNull = (v) => (v === undefined || v === "" ? null : v);

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.onclick = async () => {
    try { await onClick(); } catch (e) { say(e.message); }
  };
  return b;
}

function fill(table, rows, render) {
  $(`#${table} tbody`).replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    render(r).forEach((c) => tr.append(c instanceof Node ? wrap(c) : cell(c)));
    return tr;
  }));
}

function wrap(node) {
  const td = document.createElement("td");
  td.append(node);
  return td;
}

const load = {
  async products() {
    const q = $("#product-filter [name=q]").value.trim();
    const {products} = await api("GET", "/api/v1/products?limit=50" + (q ? `&q=${encodeURIComponent(q)}` : ""));
    fill("products-table", products, (p) => [p.sku, p.name, p.category, p.barcodes.join(" "),
      p.vat_rate_bp / 100, p.price_minor === null ? null : money(p.price_minor),
      p.active ? "sold" : "not sold",
      OPERATOR ? button(p.active ? "stop selling" : "sell again", async () => {
        await api("PATCH", `/api/v1/products/${encodeURIComponent(p.sku)}`, {active: !p.active});
        await load.products();
      }) : ""]);
  },
  async prices() {
    const sku = $("#price-filter [name=sku]").value.trim();
    const {prices} = await api("GET", "/api/v1/prices?limit=200" + (sku ? `&sku=${encodeURIComponent(sku)}` : ""));
    fill("prices-table", prices, (p) => [p.sku, money(p.amount_minor), p.store_code, p.region_code,
      p.effective_from ? p.effective_from.replace("T", " ") : "standing",
      (p.store_code || p.region_code || p.effective_from) && (OPERATOR || p.store_code || p.region_code)
        ? button("withdraw", async () => { await api("DELETE", `/api/v1/prices/${p.id}`); say("Price withdrawn."); await load.prices(); })
        : ""]);
  },
  async users() {
    const {users} = await api("GET", "/api/v1/users");
    fill("users-table", users, (u) => [u.username, u.full_name, u.role.replace("_", " "), u.store_code,
      u.region_code, u.locked ? "locked out" : u.active ? "active" : "inactive",
      button(u.active ? "deactivate" : "activate", async () => {
        await api("PATCH", `/api/v1/users/${u.id}`, u.locked ? {unlock: true} : {active: !u.active});
        await load.users();
      })]);
  },
  async stores() {
    const {stores} = await api("GET", "/api/v1/stores");
    fill("stores-table", stores, (s) => [s.code, s.name, s.region_code, s.timezone]);
    options("stores", stores.map((s) => [s.code, `${s.code} ${s.name}`]));
  },
  async regions() {
    const {regions} = await api("GET", "/api/v1/regions");
    options("regions", regions.map((r) => [r.code, `${r.code} ${r.name}`]));
  },
  async promotions() {
    const {promotions} = await api("GET", "/api/v1/promotions");
    const kind = (p) => (p.kind === "percent" ? `${p.percent_bp / 100} % off` : p.kind === "amount"
      ? `${money(p.amount_minor)} off` : `${p.n} for ${p.m}`);
    fill("promotions-table", promotions, (p) => [p.name, kind(p), p.skus.join(" "), when(p.starts_at),
      when(p.ends_at), p.active ? "active" : "stopped",
      OPERATOR ? button(p.active ? "stop" : "restart", async () => {
        await api("PATCH", `/api/v1/promotions/${p.id}`, {active: !p.active});
        await load.promotions();
      }) : ""]);
  },
  async limits() {
    const {limits} = await api("GET", "/api/v1/role-limits");
    fill("limits-table", limits, (l) => {
      const pct = input(l.max_discount_bp / 100, 5), refund = input(money(l.max_refund_minor), 9);
      return [l.role.replace("_", " "), pct, refund, OPERATOR ? button("save", async () => {
        await api("PUT", `/api/v1/role-limits/${l.role}`, {
          max_discount_bp: Math.round(Number(pct.value.replace(",", ".")) * 100),
          max_refund_minor: toMinor(refund.value)});
        say(`Limits of the ${l.role.replace("_", " ")} saved.`);
      }) : ""];
    });
  },
  async loyalty() {
    const {document: doc} = await api("GET", "/api/v1/loyalty-rules");
    $("#rules-doc").textContent = JSON.stringify(doc, null, 2);
    const form = $("#caps-form");
    if (form) {
      form.offline_points_per_day.value = doc.offline_points_per_day;
      form.offline_max_hours.value = doc.offline_max_hours;
      form.max_share.value = doc.max_share_bp / 100;
    }
  },
};

function input(value, size) {
  const i = document.createElement("input");
  i.value = value;
  i.size = size;
  i.inputMode = "decimal";
  if (!OPERATOR) i.disabled = true;
  return i;
}

function options(kind, pairs) {
  document.querySelectorAll(`select[data-options=${kind}]`).forEach((sel) => {
    const keep = sel.required ? [] : [new Option("–", "")];
    sel.replaceChildren(...keep, ...pairs.map(([value, label]) => new Option(label, value)));
  });
}

// What each form posts, from its fields.
const BODIES = {
  "/api/v1/products": (f) => ({sku: f.sku.value.trim(), name: f.name.value.trim(),
    vat_rate_bp: Number(f.vat.value) * 100, unit: f.unit.value, category: orNull(f.category.value.trim()),
    barcodes: f.barcodes.value.split(/[\s,]+/).filter(Boolean), price_minor: toMinor(f.amount.value)}),
  "/api/v1/prices": (f) => ({sku: f.sku.value.trim(), amount_minor: toMinor(f.amount.value),
    store_code: orNull(f.store_code.value), region_code: orNull(f.region_code.value),
    effective_from: localTime(f.effective_from.value)}),
  "/api/v1/users": (f) => ({username: f.username.value.trim(), full_name: f.full_name.value.trim(),
    role: f.role.value, store_code: orNull(f.store_code.value), region_code: orNull(f.region_code.value),
    pin: orNull(f.pin.value), password: orNull(f.password.value)}),
  "/api/v1/stores": (f) => ({code: f.code.value.trim(), name: f.name.value.trim(),
    region_code: f.region_code.value, timezone: f.timezone.value.trim()}),
  "/api/v1/regions": (f) => ({code: f.code.value.trim(), name: f.name.value.trim()}),
  "/api/v1/nodes": (f) => ({node_id: f.node_id.value.trim(), store_code: f.store_code.value}),
  "/api/v1/promotions": (f) => ({name: f.name.value.trim(), kind: f.kind.value,
    skus: f.skus.value.split(/[\s,]+/).filter(Boolean),
    percent_bp: f.percent.value ? Math.round(Number(f.percent.value.replace(",", ".")) * 100) : 0,
    amount_minor: f.amount.value ? toMinor(f.amount.value) : 0,
    n: Number(f.n.value || 0), m: Number(f.m.value || 0),
    starts_at: instant(f.starts_at.value), ends_at: instant(f.ends_at.value)}),
};

function bindForms() {
  document.querySelectorAll("form[data-post]").forEach((form) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const answer = await api("POST", form.dataset.post, BODIES[form.dataset.post](form));
        if (form.dataset.show) {
          const box = $("#enroll-code");
          box.textContent = `One-time code for ${answer.node_id}: ${answer[form.dataset.show]}`;
          box.hidden = false;
        }
        form.reset();
        say("Saved.");
        if (form.dataset.reload !== "none") await load[form.dataset.reload]();
        if (form.dataset.reload === "regions") await load.stores();
      } catch (e) { say(e.message); }
    });
  });
  $("#product-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load.products().catch((e) => say(e.message)); });
  const upload = $("#products-csv");
  if (upload) {
    upload.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = await upload.file.files[0].text();
      const resp = await fetch("/api/v1/products/import" + (upload.skip_bad.checked ? "?skip_bad=true" : ""), {
        method: "POST", credentials: "same-origin", body: text,
        headers: {"Content-Type": "text/csv", "X-CSRF-Token": document.querySelector("meta[name=csrf-token]").content}});
      const report = await resp.json().catch(() => ({message: `HTTP ${resp.status}`}));
      const box = $("#import-report");
      box.hidden = false;
      box.textContent = report.errors === undefined ? report.message
        : `${report.written ? "Written" : "Nothing written"}: ${report.created} new, ${report.updated} changed, ${report.skipped} bad rows\n`
          + report.errors.map((e) => `line ${e.line} ${e.sku} ${e.field}: ${e.message}`).join("\n");
      await load.products();
    });
  }
  $("#price-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load.prices().catch((e) => say(e.message)); });
  const caps = $("#caps-form");
  if (caps) {
    caps.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("PATCH", "/api/v1/loyalty-rules", {changes: {
          offline_points_per_day: Number(caps.offline_points_per_day.value),
          offline_max_hours: Number(caps.offline_max_hours.value),
          max_share_bp: Math.round(Number(caps.max_share.value.replace(",", ".")) * 100)}});
        say("Loyalty rules saved.");
        await load.loyalty();
      } catch (e) { say(e.message); }
    });
  }
}

(async () => {
  bindForms();
  for (const part of ["regions", "stores", "products", "prices", "users", "promotions", "limits", "loyalty"]) {
    try { await load[part](); } catch (e) { say(e.message); }
  }
})();
