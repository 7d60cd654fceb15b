// The master-data page: each section is a table from the JSON API and a form that posts to it.
// api(), say(), cell(), when() and roleName() come from ops.js; t() and amount() from i18n.js.
"use strict";

const ROLE = JSON.parse(document.getElementById("kassa-role").textContent);
const OPERATOR = ROLE === "admin" || ROLE === "central_office";

// A money field's amount (money.js); an empty one is refused unless it has a default.
function toMinor(input, empty = null) {
  const minor = moneyValue(input, empty);
  if (minor === null) throw new Error(t("Enter an amount."));
  return minor;
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

// A new PIN (till people) or password (office people) typed into the person's row: a manager
// resets what someone forgot, within their reach (central refuses the rest), audited there.
function secretReset(u) {
  const till = u.role === "cashier" || u.role === "store_manager";
  const field = document.createElement("input");
  field.type = "password";
  field.size = till ? 6 : 12;
  field.autocomplete = "new-password";
  field.className = "secret";
  if (till) field.inputMode = "numeric";
  field.setAttribute("aria-label", till ? t("New PIN for %(user)s", {user: u.username})
    : t("New password for %(user)s", {user: u.username}));
  const reset = button(till ? t("reset PIN") : t("reset password"), async () => {
    if (!field.value) { field.focus(); throw new Error(t("Type the new one first.")); }
    try {
      await api("PATCH", `/api/v1/users/${u.id}`, till ? {pin: field.value} : {password: field.value});
    } finally { field.value = ""; }
    say(till ? t("New PIN of %(user)s saved: the tills have it at their next pull.", {user: u.username})
      : t("New password of %(user)s saved; their sessions ended.", {user: u.username}));
  });
  const wrap = document.createElement("span");
  wrap.className = "reset";
  wrap.append(field, " ", reset);
  return wrap;
}

// (Not named fill(): that is i18n.js's.)
function fillTable(table, rows, render) {
  $(`#${table} tbody`).replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    render(r).forEach((c) => tr.append(c instanceof Node ? wrap(c) : cell(c)));
    return tr;
  }));
  bindMoneyInputs($(`#${table}`));
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
    fillTable("products-table", products, (p) => [p.sku, p.name, p.category, p.barcodes.join(" "),
      p.vat_rate_bp / 100, p.price_minor === null ? null : amount(p.price_minor),
      p.active ? t("sold") : t("not sold"),
      OPERATOR ? button(p.active ? t("stop selling") : t("sell again"), async () => {
        await api("PATCH", `/api/v1/products/${encodeURIComponent(p.sku)}`, {active: !p.active});
        await load.products();
      }) : ""]);
  },
  async prices() {
    const sku = $("#price-filter [name=sku]").value.trim();
    const {prices} = await api("GET", "/api/v1/prices?limit=200" + (sku ? `&sku=${encodeURIComponent(sku)}` : ""));
    fillTable("prices-table", prices, (p) => [p.sku, amount(p.amount_minor), p.store_code, p.region_code,
      p.effective_from ? p.effective_from.replace("T", " ") : t("standing"),
      (p.store_code || p.region_code || p.effective_from) && (OPERATOR || p.store_code || p.region_code)
        ? button(t("withdraw"), async () => {
          await api("DELETE", `/api/v1/prices/${p.id}`);
          say(t("Price withdrawn."));
          await load.prices();
        })
        : ""]);
  },
  async users() {
    const {users} = await api("GET", "/api/v1/users");
    fillTable("users-table", users, (u) => [u.username, u.full_name, roleName(u.role), u.store_code,
      u.region_code, u.locked ? t("locked out") : u.active ? t("active") : t("inactive"),
      button(u.active ? t("deactivate") : t("activate"), async () => {
        await api("PATCH", `/api/v1/users/${u.id}`, u.locked ? {unlock: true} : {active: !u.active});
        await load.users();
      }), secretReset(u)]);
  },
  async vat() {
    const {rates} = await api("GET", "/api/v1/vat-rates");
    const percent = (bp) => String(bp / 100).replace(".", I18N.decimal);
    options("vat", rates.filter((r) => r.active).map((r) => [bp2percent(r.rate_bp), `${percent(r.rate_bp)} · ${r.name}`]));
    fillTable("vat-table", rates, (r) => [percent(r.rate_bp), r.name, r.products,
      r.active ? t("in force") : t("retired"),
      OPERATOR ? button(r.active ? t("retire") : t("bring back"), async () => {
        await api("PATCH", `/api/v1/vat-rates/${r.rate_bp}`, {active: !r.active});
        await load.vat();
      }) : ""]);
  },
  async stores() {
    const {stores} = await api("GET", "/api/v1/stores");
    fillTable("stores-table", stores, (s) => [s.code, s.name, s.region_code, s.address,
      OPERATOR ? timezoneInput(s) : s.timezone, OPERATOR ? languageSelect(s) : s.locale, s.currency]);
    options("stores", stores.map((s) => [s.code, `${s.code} ${s.name}`]));
  },
  async regions() {
    const {regions} = await api("GET", "/api/v1/regions");
    options("regions", regions.map((r) => [r.code, `${r.code} ${r.name}`]));
  },
  async promotions() {
    const {promotions} = await api("GET", "/api/v1/promotions");
    const kind = (p) => (p.kind === "percent"
      ? t("%(n)s %% off", {n: String(p.percent_bp / 100).replace(".", I18N.decimal)})
      : p.kind === "amount" ? t("%(amount)s off", {amount: amount(p.amount_minor)})
        : t("%(n)s for %(m)s", {n: p.n, m: p.m}));
    fillTable("promotions-table", promotions, (p) => [p.name, kind(p), p.skus.join(" "), when(p.starts_at),
      when(p.ends_at), p.active ? t("active") : t("stopped"),
      OPERATOR ? button(p.active ? t("stop") : t("restart"), async () => {
        await api("PATCH", `/api/v1/promotions/${p.id}`, {active: !p.active});
        await load.promotions();
      }) : ""]);
  },
  async limits() {
    const {limits} = await api("GET", "/api/v1/role-limits");
    fillTable("limits-table", limits, (l) => {
      const pct = input(l.max_discount_bp / 100, 5), refund = input(amount(l.max_refund_minor), 9);
      refund.dataset.money = "";
      const points = input(l.max_points_adjust ?? 0, 7);
      points.inputMode = "numeric";
      points.setAttribute("aria-label", t("Points a %(role)s may adjust at a time", {role: roleName(l.role)}));
      return [roleName(l.role), pct, refund, points, OPERATOR ? button(t("save"), async () => {
        const most = points.value.trim();
        if (!/^\d{1,9}$/.test(most)) throw new Error(t("Points as a whole number, please."));
        await api("PUT", `/api/v1/role-limits/${l.role}`, {
          max_discount_bp: Math.round(Number(pct.value.replace(",", ".")) * 100),
          max_refund_minor: toMinor(refund), max_points_adjust: Number(most)});
        say(t("Limits of the %(role)s saved.", {role: roleName(l.role)}));
      }) : ""];
    });
  },
  async loyalty() {
    const [{document: doc}, {versions}] = await Promise.all([
      api("GET", "/api/v1/loyalty-rules"), api("GET", "/api/v1/loyalty-rules/versions")]);
    showRules(doc);
    const latest = versions[0];
    $("#rules-version").textContent = latest
      ? t("Version %(version)s, set %(when)s by %(who)s.", {version: latest.version,
        when: when(latest.changed_at), who: latest.changed_by || t("the system")})
      : t("The rules kassa starts with; not changed yet.");
    fillTable("rules-versions", versions, (v) => [v.version, when(v.changed_at), v.changed_by,
      v.fields.map((f) => RULE_FIELDS[f] || f).join(", ")]);
  },
};

// The rules' fields as the versions list names them.
const RULE_FIELDS = {
  tiers: t("tier thresholds"), rate_milli_by_tier: t("earn rates"), minor_per_point: t("point value"),
  points_valid_days: t("points' life"), max_share_bp: t("share paid with points"),
  min_points: t("fewest points spent"), max_balance: t("most points held"),
  offline_points_per_day: t("offline points per day"), offline_max_hours: t("hours since the last pull"),
  product_multiplier_bp: t("product multipliers"), category_multiplier_bp: t("category multipliers"),
  promotions: t("points promotions"),
};

// A figure as this page's language writes it: 2.5 -> "2,5" in Russian.
const decimal = (n) => String(Number(n.toFixed(3))).replace(".", I18N.decimal);

// A rate in thousandths of a point per currency unit, as the share of the spend it gives back
// (with a point paying minor_per_point): 10 thousandths x 100 kopecks = 1 %.
const percentBack = (rate, minorPerPoint) => rate * minorPerPoint / 1000;

let rulesShown = null;  // the document the form was filled from

function showRules(doc) {
  rulesShown = doc;
  const form = $("#rules-form");
  clearFieldErrors(form);
  fillTable("tiers-table", doc.tiers.map(([name, from], n) => ({name, from, n})), ({name, from, n}) => {
    const spend = n === 0 ? amount(0) : ruleInput(`tiers.${n}.1`, amount(from), 10,
      t("Spend from which %(tier)s applies", {tier: name}), true);
    const back = ruleInput(`rate_milli_by_tier.${name}`,
      decimal(percentBack(doc.rate_milli_by_tier[name], doc.minor_per_point)), 5,
      t("Back on purchases at %(tier)s, %%", {tier: name}));
    return [name, spend, back];
  });
  form.point_value.value = amount(doc.minor_per_point);
  form.points_valid_days.value = doc.points_valid_days;
  form.max_share.value = decimal(doc.max_share_bp / 100);
  form.min_points.value = doc.min_points;
  form.max_balance.value = doc.max_balance === null || doc.max_balance === undefined ? "" : doc.max_balance;
  form.offline_points_per_day.value = doc.offline_points_per_day;
  form.offline_max_hours.value = doc.offline_max_hours;
}

function ruleInput(field, value, size, label, money = false) {
  const box = document.createElement("span");
  const i = input(value, size);
  i.dataset.field = field;
  if (money) i.dataset.money = "";
  i.setAttribute("aria-label", label);
  const error = document.createElement("small");
  error.className = "field-error";
  error.setAttribute("role", "alert");
  box.append(i, error);
  return box;
}

// The form's figures as the API's fields, or what is wrong with each field that is not one.
function readRules(form) {
  const errors = [];
  const wrong = (field, message) => { errors.push([field, message]); return null; };
  const whole = (field, min) => {
    const text = field.value.trim();
    return /^\d{1,9}$/.test(text) && Number(text) >= min ? Number(text)
      : wrong(field, t("A whole number, %(min)s or more.", {min}));
  };
  const hundredths = (field) => {  // a percentage with at most two decimals, in hundredths
    const m = field.value.trim().match(/^(\d{1,3})(?:[.,](\d{1,2}))?$/);
    return m ? Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"))
      : wrong(field, t("A percentage such as %(example)s.", {example: decimal(2.5)}));
  };
  const money = (field, min) => {
    try {
      const minor = toMinor(field);
      if (minor >= min) return minor;
    } catch (e) { /* said below */ }
    return wrong(field, t("An amount such as %(example)s.", {example: amount(min || 12345)}));
  };
  const doc = rulesShown;
  const minorPerPoint = money(form.point_value, 1);
  const tiers = doc.tiers.map(([name, from], n) => {
    const field = form.querySelector(`[data-field="tiers.${n}.1"]`);
    return [name, field ? money(field, 0) : from];
  });
  const rates = {};
  for (const [name] of doc.tiers) {
    const field = form.querySelector(`[data-field="rate_milli_by_tier.${name}"]`);
    const share = hundredths(field);
    if (share === null || minorPerPoint === null) continue;
    // percent = rate x minor_per_point / 1000, so rate = hundredths x 10 / minor_per_point
    if ((share * 10) % minorPerPoint !== 0) {
      wrong(field, t("With a point paying %(amount)s, the share goes in steps of %(step)s %%.",
        {amount: amount(minorPerPoint), step: decimal(minorPerPoint / 1000)}));
      continue;
    }
    rates[name] = share * 10 / minorPerPoint;
  }
  const maxBalance = form.max_balance.value.trim() === "" ? null : whole(form.max_balance, 1);
  const changes = {
    tiers, rate_milli_by_tier: rates, minor_per_point: minorPerPoint,
    points_valid_days: whole(form.points_valid_days, 1), max_share_bp: hundredths(form.max_share),
    min_points: whole(form.min_points, 1), max_balance: maxBalance,
    offline_points_per_day: whole(form.offline_points_per_day, 0),
    offline_max_hours: whole(form.offline_max_hours, 0),
  };
  return {changes, errors};
}

// The form's field for a field the API names (tiers.2.1, rate_milli_by_tier.gold, tiers.2).
function fieldFor(form, name) {
  const fields = [...form.querySelectorAll("[data-field]")];
  return fields.find((f) => f.dataset.field === name)
    || fields.find((f) => f.dataset.field.startsWith(`${name}.`))
    || fields.find((f) => name.startsWith(`${f.dataset.field}.`)) || null;
}

function fieldError(field, message) {
  field.setAttribute("aria-invalid", "true");
  field.parentElement.querySelector(".field-error").textContent = message;
}

function clearFieldErrors(form) {
  form.querySelectorAll("[aria-invalid]").forEach((f) => f.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
}

function input(value, size) {
  const i = document.createElement("input");
  i.value = value;
  i.size = size;
  i.inputMode = "decimal";
  if (!OPERATOR) i.disabled = true;
  return i;
}

const bp2percent = (bp) => String(bp / 100);

// A store's language, changed in place: its tills follow at their next pull.
function languageSelect(store) {
  const sel = document.createElement("select");
  sel.setAttribute("aria-label", t("Language of %(store)s", {store: store.code}));
  document.querySelectorAll("#stores form select[name=locale] option").forEach(
    (o) => sel.append(new Option(o.textContent, o.value, false, o.value === store.locale)));
  sel.onchange = () => api("PATCH", `/api/v1/stores/${store.id}`, {locale: sel.value})
    .then(() => say(t("Saved. The store's tills follow at their next pull.")), (e) => say(e.message));
  return sel;
}

// A store's time zone (IANA, e.g. Europe/Moscow): its sales fall on the days of its clock in
// every report and in its tills' Z reports. Central refuses a zone it does not know.
function timezoneInput(store) {
  const input = document.createElement("input");
  input.value = store.timezone;
  input.size = 18;
  input.setAttribute("aria-label", t("Time zone of %(store)s", {store: store.code}));
  input.onchange = () => api("PATCH", `/api/v1/stores/${store.id}`, {timezone: input.value.trim()})
    .then((saved) => { store.timezone = saved.timezone; say(t("Saved. The store's tills follow at their next pull.")); },
      (e) => { input.value = store.timezone; say(e.message); });
  return input;
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
    names: f.name_ru.value.trim() ? {ru: f.name_ru.value.trim()} : null,
    vat_rate_bp: Math.round(Number(f.vat.value) * 100), unit: f.unit.value, category: orNull(f.category.value.trim()),
    barcodes: f.barcodes.value.split(/[\s,]+/).filter(Boolean), price_minor: toMinor(f.amount)}),
  "/api/v1/prices": (f) => ({sku: f.sku.value.trim(), amount_minor: toMinor(f.amount),
    store_code: orNull(f.store_code.value), region_code: orNull(f.region_code.value),
    effective_from: localTime(f.effective_from.value)}),
  "/api/v1/users": (f) => ({username: f.username.value.trim(), full_name: f.full_name.value.trim(),
    role: f.role.value, store_code: orNull(f.store_code.value), region_code: orNull(f.region_code.value),
    pin: orNull(f.pin.value), password: orNull(f.password.value)}),
  "/api/v1/stores": (f) => ({code: f.code.value.trim(), name: f.name.value.trim(),
    region_code: f.region_code.value, address: f.address.value.trim(), timezone: f.timezone.value.trim(), locale: f.locale.value,
    currency: f.currency.value.trim().toUpperCase()}),
  "/api/v1/vat-rates": (f) => ({rate_bp: Math.round(Number(f.percent.value.replace(",", ".")) * 100),
    name: f.name.value.trim()}),
  "/api/v1/regions": (f) => ({code: f.code.value.trim(), name: f.name.value.trim()}),
  "/api/v1/nodes": (f) => ({node_id: f.node_id.value.trim(), store_code: f.store_code.value}),
  "/api/v1/promotions": (f) => ({name: f.name.value.trim(), kind: f.kind.value,
    skus: f.skus.value.split(/[\s,]+/).filter(Boolean),
    percent_bp: f.percent.value ? Math.round(Number(f.percent.value.replace(",", ".")) * 100) : 0,
    amount_minor: toMinor(f.amount, 0),
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
          box.textContent = t("One-time code for %(node)s: %(code)s",
            {node: answer.node_id, code: answer[form.dataset.show]});
          box.hidden = false;
        }
        form.reset();
        say(t("Saved."));
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
        : [report.written ? t("Written: %(created)s new, %(updated)s changed, %(skipped)s bad rows", report)
          : t("Nothing written: %(created)s new, %(updated)s changed, %(skipped)s bad rows", report),
        ...report.errors.map((e) => t("line %(line)s %(sku)s %(field)s: %(message)s", e))].join("\n");
      await load.products();
    });
  }
  $("#price-filter").addEventListener("submit", (ev) => { ev.preventDefault(); load.prices().catch((e) => say(e.message)); });
  const rules = $("#rules-form");
  if (rules) {
    rules.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearFieldErrors(rules);
      const {changes, errors} = readRules(rules);
      errors.forEach(([field, message]) => fieldError(field, message));
      if (errors.length) {
        errors[0][0].focus();
        say(t("The rules were not saved: see the fields marked."));
        return;
      }
      try {
        const {document: doc} = await api("PATCH", "/api/v1/loyalty-rules", {changes});
        say(t("Loyalty rules saved as version %(version)s.", {version: doc.version}));
        await load.loyalty();
      } catch (e) {
        const field = e.details && e.details.field !== undefined ? fieldFor(rules, e.details.field) : null;
        if (field) {
          fieldError(field, e.message);
          field.focus();
        }
        say(e.message);
      }
    });
  }
}

(async () => {
  bindMoneyInputs();
  bindForms();
  const parts = ROLE === "store_manager" ? ["stores", "users"]
    : ["vat", "regions", "stores", "products", "prices", "users", "promotions", "limits", "loyalty"];
  for (const part of parts) {
    try { await load[part](); } catch (e) { say(e.message); }
  }
})();
