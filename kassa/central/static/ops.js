// Central's operator pages: tables filled from the JSON API; actions post JSON.
"use strict";

const $ = (sel) => document.querySelector(sel);

async function api(method, path, body) {
  const headers = body === undefined ? {} : {"Content-Type": "application/json"};
  if (method !== "GET") headers["X-CSRF-Token"] = document.querySelector("meta[name=csrf-token]").content;
  const resp = await fetch(path, {
    method, credentials: "same-origin", headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const doc = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    // Field errors say which field and why: {"pin": ["4 to 8 digits"]}.
    const fields = doc.error === "invalid_input" && doc.details ? " " + Object.entries(doc.details)
      .map(([k, v]) => `${k}: ${[].concat(v).join(", ")}`).join("; ") : "";
    // The refusal's code and details too, for a page that acts on them (likely_duplicate).
    throw Object.assign(new Error((doc.message || `HTTP ${resp.status}`) + fields),
      {status: resp.status, code: doc.error, details: doc.details});
  }
  return doc;
}

// The language links keep what the page shows (?id= of a customer, a report's filters): the
// address as it is now, with the language changed.
document.addEventListener("click", (ev) => {
  const link = ev.target.closest && ev.target.closest("a[data-lang]");
  if (!link) return;
  const params = new URLSearchParams(location.search);
  params.set("lang", link.dataset.lang);
  link.href = `${location.pathname}?${params}${location.hash}`;
});

function say(text) {
  const box = $("#message");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  return td;
}

function when(iso) {
  return iso ? formatDateTime(iso) : null;
}

// The roles as people read them (the API's codes: cashier, store_manager, ...).
const ROLE_NAMES = {
  cashier: t("cashier"), store_manager: t("store manager"), central_office: t("central office"),
  regional_manager: t("regional manager"), admin: t("admin"),
};

function roleName(role) {
  return role ? ROLE_NAMES[role] || role.replace("_", " ") : "";
}

function seconds(s) {
  if (s === null || s === undefined) return null;
  if (s < 120) return t("%(n)s s", {n: s});
  if (s < 7200) return t("%(n)s min", {n: Math.round(s / 60)});
  if (s < 172800) return t("%(n)s h", {n: Math.round(s / 3600)});
  return t("%(n)s d", {n: Math.round(s / 86400)});
}

const NODE_STATES = {
  online: t("online"), offline: t("offline"), revoked: t("revoked"), never_seen: t("never seen"),
  not_enrolled: t("not enrolled"), refused: t("refused"),
};

function stateLabel(n) {
  if (n.state === "clock_skew") {
    const h = Math.abs(n.clock_skew_seconds) / 3600;
    const off = h >= 1 ? t("%(n)s h", {n: h.toFixed(1).replace(".", I18N.decimal)})
      : t("%(n)s s", {n: Math.abs(n.clock_skew_seconds)});
    return n.clock_skew_seconds > 0 ? t("clock skew %(offset)s ahead", {offset: off})
      : t("clock skew %(offset)s behind", {offset: off});
  }
  return NODE_STATES[n.state] || n.state.replace("_", " ");
}

const BACKUP_STATES = {
  ok: t("ok"), behind: t("behind"), alarm: t("alarm"), down: t("down"), off: t("off"),
  starting: t("starting"),
};

function backupCell(n) {
  const bad = ["alarm", "down"].includes(n.backup_state);
  const lag = n.backup_state === "behind" || bad ? ` ${seconds(n.backup_lag_seconds)}` : "";
  const label = BACKUP_STATES[n.backup_state] || n.backup_state;
  const td = cell(n.backup_state ? `${label}${lag}` : null, bad ? "warn" : "");
  if (n.backup_error) td.title = n.backup_error;
  return td;
}

async function loadNodes() {
  const {nodes} = await api("GET", "/api/v1/nodes/status");
  const body = $("#nodes tbody");
  body.replaceChildren(...nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.node_id;
    const state = cell(stateLabel(n));
    state.replaceChildren(Object.assign(document.createElement("span"),
      {className: `state ${n.state}`, textContent: stateLabel(n)}));
    tr.append(cell(n.node_id), cell(n.store_code), state, cell(when(n.last_contact_at)),
      cell(seconds(n.lag_seconds), "n"), cell(n.high_water, "n"),
      cell(n.events_behind, n.events_behind ? "n warn" : "n"), cell(n.queue_depth, "n"),
      cell(when(n.oldest_pending_at)),
      cell(n.feed_cursor === null ? null : n.feed_head - n.feed_cursor, "n"),
      cell(n.quarantined, n.quarantined ? "n warn" : "n"),
      cell(n.fraud_alerts, n.fraud_alerts ? "n warn" : "n"), backupCell(n));
    return tr;
  }));
  if (!nodes.length) body.innerHTML = `<tr><td colspan=13>${t("No nodes in your scope.")}</td></tr>`;
}

const ALERT_KINDS = {
  earn: t("points earned"), burn: t("points spent offline"), refund: t("points given back"),
  reversal: t("points taken back"),
};
const ALERT_REASONS = {
  earn_over_rules: t("more than the rules give"),
  burn_over_allowance: t("beyond the card's offline allowance"),
  refund_over_burned: t("more than the sale spent"),
  reversal_under_earned: t("less than the goods earned"),
  account_mismatch: t("another account than the sale's"),
};

async function loadAlerts() {
  const {alerts} = await api("GET", "/api/v1/fraud-alerts");
  const body = $("#alerts tbody");
  body.replaceChildren(...alerts.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.alert = a.id;
    tr.append(cell(when(a.raised_at)), cell(a.node_id), cell(a.store_code),
      cell(ALERT_KINDS[a.kind] || a.kind), cell(a.document_no), cell(a.claimed, "n warn"),
      cell(a.posted, "n"), cell(ALERT_REASONS[a.reason] || a.reason));
    return tr;
  }));
  if (!alerts.length) body.innerHTML = `<tr><td colspan=8>${t("No open fraud alerts.")}</td></tr>`;
}

let current = null;

async function loadHeld() {
  const {events} = await api("GET", "/api/v1/quarantine");
  const body = $("#held tbody");
  body.replaceChildren(...events.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.id = e.id;
    const open = Object.assign(document.createElement("button"),
      {textContent: t("Repair…"), type: "button"});
    open.addEventListener("click", () => openRepair(e));
    const act = document.createElement("td");
    act.append(open);
    tr.append(cell(e.node_id), cell(e.seq, "n"), cell(e.kind), cell(when(e.occurred_at)),
      cell(e.reason), cell(e.message, "msg"), act);
    return tr;
  }));
  if (!events.length) body.innerHTML = `<tr><td colspan=7>${t("Nothing is held.")}</td></tr>`;
}

function openRepair(e) {
  current = e;
  $("#repair-title").textContent = t("%(kind)s · %(node)s seq %(seq)s",
    {kind: e.kind, node: e.node_id, seq: e.seq});
  $("#repair-payload").value = JSON.stringify(e.payload, null, 2);
  $("#repair-note").value = "";
  $("#repair").showModal();
  const box = $("#repair-payload");
  box.focus();
  box.setSelectionRange(0, 0);
  box.scrollTop = 0;
}

async function replay(ev) {
  ev.preventDefault();
  let payload;
  try {
    payload = JSON.parse($("#repair-payload").value);
  } catch (err) {
    say(t("The payload is not valid JSON: %(error)s", {error: err.message}));
    return;
  }
  const changed = JSON.stringify(payload) !== JSON.stringify(current.payload);
  try {
    await api("POST", `/api/v1/quarantine/${current.id}/replay`,
      {payload: changed ? payload : null, note: $("#repair-note").value});
    $("#repair").close();
    say(t("Replayed %(node)s seq %(seq)s.", {node: current.node_id, seq: current.seq}));
    await loadHeld();
  } catch (err) {
    say(err.message);
  }
}

async function discard() {
  const reason = prompt(t("Why is this event discarded? (kept in the audit log)"));
  if (!reason) return;
  try {
    await api("POST", `/api/v1/quarantine/${current.id}/discard`, {reason});
    $("#repair").close();
    say(t("Discarded %(node)s seq %(seq)s.", {node: current.node_id, seq: current.seq}));
    await loadHeld();
  } catch (err) {
    say(err.message);
  }
}

// What an authorization is for: a discount in per cent, anything else an amount.
// (Not named amount(): that is i18n.js's, which this page uses too.)
function authAmount(a) {
  return a.kind === "discount" ? `${String(a.amount / 100).replace(".", I18N.decimal)} %` : amount(a.amount);
}

const AUTH_KINDS = {
  refund: t("refund"), blind_return: t("blind return"), discount: t("discount"),
  price_override: t("price override"), blocked_customer: t("blocked customer"),
};

function authKind(a) {
  return AUTH_KINDS[a.kind] || a.kind.replace("_", " ");
}

async function loadQueue() {
  const {authorizations} = await api("GET", "/api/v1/authorizations");
  const body = $("#queue tbody");
  const typing = body.querySelector("input:focus");
  if (typing) return;  // do not pull the row from under someone writing a reason
  body.replaceChildren(...authorizations.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.id = a.id;
    const reason = Object.assign(document.createElement("input"),
      {placeholder: t("why (kept in the audit log)"), maxLength: 200, className: "reason"});
    const act = document.createElement("td");
    for (const [label, approve, cls] of [[t("Approve"), true, "primary"], [t("Decline"), false, "danger"]]) {
      const b = Object.assign(document.createElement("button"), {textContent: label, type: "button", className: cls});
      b.addEventListener("click", () => decide(a, approve, reason.value));
      act.append(b);
    }
    const why = document.createElement("td");
    why.append(reason);
    tr.append(cell(when(a.requested_at)), cell(a.node_id), cell(authKind(a)),
      cell(authAmount(a), "n"), cell(a.subject), cell(roleName(a.level)),
      cell(when(a.expires_at)), why, act);
    return tr;
  }));
  if (!authorizations.length) body.innerHTML = `<tr><td colspan=9>${t("Nothing is waiting.")}</td></tr>`;
}

async function decide(a, approve, reason) {
  if (!reason.trim()) { say(t("Write why first: it goes to the audit log.")); return; }
  try {
    await api("POST", `/api/v1/authorizations/${a.id}/decision`, {approve, reason});
    const done = {kind: authKind(a), amount: authAmount(a), node: a.node_id};
    say(approve ? t("Approved: %(kind)s %(amount)s for %(node)s.", done)
      : t("Declined: %(kind)s %(amount)s for %(node)s.", done));
    await loadQueue();
  } catch (err) {
    say(err.message);
  }
}

async function loadAudit() {
  const form = $("#audit-filter");
  const query = new URLSearchParams([...new FormData(form)].filter(([, v]) => v)
    .map(([k, v]) => [k, form.elements[k].type === "datetime-local" ? new Date(v).toISOString() : v]));
  $("#audit-csv").href = `/api/v1/audit?${query}&format=csv`;
  const {entries} = await api("GET", `/api/v1/audit?${query}`);
  const body = $("#audit tbody");
  body.replaceChildren(...entries.map((e) => {
    const tr = document.createElement("tr");
    tr.append(cell(when(e.at)), cell(e.action), cell(e.node_id), cell(e.actor),
      cell(e.on_behalf_of), cell(e.subject, "msg"), cell(e.reason, "msg"));
    return tr;
  }));
  if (!entries.length) body.innerHTML = `<tr><td colspan=7>${t("Nothing matches.")}</td></tr>`;
}

// The language links keep the choice as the person's own setting, not this browser's only.
function languageLinks() {
  document.querySelectorAll("a[data-lang]").forEach((a) => a.addEventListener("click", (ev) => {
    ev.preventDefault();
    api("PUT", "/api/v1/account/language", {locale: a.dataset.lang})
      .then(() => location.reload(), (e) => say(e.message));
  }));
}

function init() {
  const page = document.body.dataset.page;
  languageLinks();
  if (page === "audit") {
    const refresh = () => loadAudit().catch((e) => say(e.message));
    $("#audit-filter").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
    refresh();
  }
  if (page === "authorizations") {
    const refresh = () => loadQueue().catch((e) => say(e.message));
    refresh();
    setInterval(refresh, 3000);
  }
  if (page === "nodes") {
    const refresh = () => Promise.all([loadNodes(), loadAlerts()]).catch((e) => say(e.message));
    refresh();
    setInterval(refresh, 5000);
  } else if (page === "quarantine") {
    loadHeld().catch((e) => say(e.message));
    $("#repair-form").addEventListener("submit", replay);
    $("#repair-cancel").addEventListener("click", () => $("#repair").close());
    $("#repair-discard").addEventListener("click", discard);
  }
  document.body.dataset.ready = "1";
}

init();
