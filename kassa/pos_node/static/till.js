// The till's screen logic: keyboard first (a barcode scanner types digits + Enter), every
// action on a function key shown on screen, the focus always back on the scan field.
"use strict";

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const money = (minor) => (minor < 0 ? "-" : "") + (Math.abs(minor) / 100).toFixed(2);

function toMinor(text) {
  const m = String(text).trim().replace(",", ".").match(/^(\d{1,10})(?:\.(\d{1,2}))?$/);
  return m ? parseInt(m[1], 10) * 100 + parseInt((m[2] || "0").padEnd(2, "0"), 10) : null;
}

class ApiError extends Error {
  constructor(message, code, details) { super(message); this.code = code; this.details = details; }
}

async function api(method, path, body) {
  const opts = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try { resp = await fetch(path, opts); } catch (e) { throw new ApiError("The till's server does not answer.", "no_server"); }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* 204 */ }
  if (!resp.ok) {
    let msg = (data && data.message) || `HTTP ${resp.status}`;
    if (data && data.details && data.error === "invalid_input") msg += " " + JSON.stringify(data.details);
    throw new ApiError(msg, data && data.error, data && data.details);
  }
  return data;
}

// --- messages and dialogs -------------------------------------------------------------------

let messageTimer = null;
function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = "message" + (ok ? " ok" : "");
  box.hidden = false;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(() => { box.hidden = true; }, ok ? 4000 : 8000);
}

function focusScan() {
  const scan = $("#scan");
  if (scan && !$("#dialog")?.open) scan.focus();
}

// ask(): show the dialog; onOk(form) returns a value (closes) or throws (stays open).
function ask(title, html, onOk, okLabel = "OK") {
  const dialog = $("#dialog");
  $("#dialog-title").textContent = title;
  $("#dialog-body").innerHTML = html;
  $("#dialog-error").textContent = "";
  $("#dialog-ok").firstChild.textContent = okLabel + " ";
  return new Promise((resolve) => {
    const form = $("#dialog-form");
    const finish = (value) => {
      form.onsubmit = null; $("#dialog-cancel").onclick = null; dialog.oncancel = null;
      dialog.close(); focusScan(); resolve(value);
    };
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      try { finish(await onOk(form)); }
      catch (e) { $("#dialog-error").textContent = e.message; }
    };
    $("#dialog-cancel").onclick = () => finish(null);
    dialog.oncancel = (ev) => { ev.preventDefault(); finish(null); };
    dialog.showModal();
    const first = dialog.querySelector("#dialog-body input, #dialog-body select");
    (first || $("#dialog-ok")).focus();
    if (first && first.select) first.select();
  });
}

function askOverride(why) {
  return ask("Manager approval", `<p>${esc(why)}</p>
    <label>Manager <input name="username" autocomplete="off" required></label>
    <label>Manager PIN <input name="pin" type="password" inputmode="numeric" autocomplete="off" required></label>
    <label>Reason <input name="reason" required></label>`,
  (f) => ({username: f.username.value.trim(), pin: f.pin.value, reason: f.reason.value.trim()}),
  "Approve");
}

// Run an API call; when a manager must approve, ask for the override and try once more;
// when only central may approve, ask central and wait for its answer, then try once more.
async function withOverride(method, path, body = {}) {
  try { return await api(method, path, body); }
  catch (e) {
    if (e.details && e.details.central_authorization_required) {
      const id = await askCentral(e.details, e.message);
      return api(method, path, {...body, authorization_id: id});
    }
    if (!(e.details && e.details.override_required)) throw e;
    const override = await askOverride(e.message);
    if (!override) throw new ApiError("Cancelled: " + e.message, "cancelled");
    return api(method, path, {...body, override});
  }
}

// Central's approval: asked at once, then waited for (the dialog shows it; Esc gives up).
async function askCentral(details, why) {
  let answer = await api("POST", "/api/v1/authorizations", {kind: details.kind, amount: details.amount, subject: details.subject});
  let cancelled = false;
  if (answer.status === "pending") {
    const dialog = $("#dialog");
    $("#dialog-title").textContent = "Waiting for central";
    $("#dialog-body").innerHTML = `<p>${esc(why)}</p><p id="central-wait">Asked central office (${esc(answer.policy)}); the customer waits…</p>`;
    $("#dialog-error").textContent = "";
    $("#dialog-cancel").onclick = () => { cancelled = true; dialog.close(); };
    dialog.oncancel = (ev) => { ev.preventDefault(); cancelled = true; dialog.close(); };
    $("#dialog-form").onsubmit = (ev) => ev.preventDefault();
    $("#dialog-ok").hidden = true;  // nothing to confirm: central answers, or Esc gives up
    dialog.showModal();
    while (answer.status === "pending" && !cancelled) {
      answer = await api("GET", `/api/v1/authorizations/${answer.id}?wait=10`);
      if (answer.level && answer.status === "pending") $("#central-wait").textContent = `Asked ${answer.level.replace("_", " ")}; the customer waits…`;
    }
    if (dialog.open) dialog.close();
    $("#dialog-cancel").onclick = null; dialog.oncancel = null; $("#dialog-form").onsubmit = null;
    $("#dialog-ok").hidden = false;
    focusScan();
  }
  if (cancelled) throw new ApiError("Cancelled while waiting for central.", "cancelled");
  if (answer.status !== "approved") throw new ApiError(`Central ${answer.status} it: ${answer.reason}`, "central_" + answer.status);
  return answer.id;
}

// --- sign-in and shift pages ------------------------------------------------------------------

function bindSimpleForms() {
  const signin = $("#signin");
  if (signin) signin.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await api("POST", "/api/v1/session", {username: signin.username.value.trim(), pin: signin.pin.value}); location.reload(); }
    catch (e) { say(e.message); signin.pin.value = ""; signin.pin.focus(); }
  });
  const open = $("#open-shift");
  if (open) open.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const amount = toMinor(open.opening_float.value);
    if (amount === null) { say("Enter the float as an amount, e.g. 5000.00"); return; }
    try { await api("POST", "/api/v1/shifts/current", {opening_float: amount}); location.reload(); }
    catch (e) { say(e.message); }
  });
}

// --- the sale screen ------------------------------------------------------------------------------

let cart = null;
let selected = 0;  // line_no of the highlighted line
let results = [];
let resultIndex = 0;

const CUSTOMER_FIELDS = ["customer_id", "customer", "card_number", "points_burned", "points_value_minor", "points_offline"];

function render(sale) {
  // Line changes answer the lines and totals only (the scan path stays lean): the sale's
  // customer and points carry over from what the till last showed for the same sale.
  if (sale && cart && sale.id === cart.id && sale.customer === undefined) {
    for (const f of CUSTOMER_FIELDS) sale[f] = cart[f];
  }
  // Every change of the cart answers its offers; an answer without them keeps the last.
  if (sale && cart && sale.id === cart.id && sale.offers === undefined) sale.offers = cart.offers;
  cart = sale && sale.status === "open" ? sale : null;
  const lines = cart ? cart.lines : [];
  if (!lines.some((l) => l.line_no === selected)) selected = lines.length ? lines[lines.length - 1].line_no : 0;
  $("#cart tbody").innerHTML = lines.map((l) => `
    <tr data-line="${l.line_no}" class="${l.line_no === selected ? "selected" : ""}">
      <td>${l.line_no}</td>
      <td>${esc(l.name)}${l.promotion_id ? '<span class="promo">promotion</span>' : ""}${l.offer_id ? `<span class="promo offer-taken">personal offer -${l.offer_discount_bp / 100}&nbsp;%</span>` : ""}</td>
      <td class="num">${esc(l.quantity)}${l.unit === "kg" ? " kg" : ""}</td>
      <td class="num">${money(l.unit_price_minor)}</td>
      <td class="num">${l.discount_minor ? money(-l.discount_minor) : ""}${l.line_discount_bp ? ` (${l.line_discount_bp / 100}%)` : ""}</td>
      <td class="num">${money(l.amount_minor)}</td></tr>`).join("")
    || `<tr class="empty"><td colspan="6">Scan the first item, key its PLU, or type a name and press F3.</td></tr>`;
  const t = cart || {gross_minor: 0, discount_minor: 0, vat_minor: 0, total_minor: 0};
  $("#t-gross").textContent = money(t.gross_minor);
  $("#t-discount").textContent = t.discount_minor ? money(-t.discount_minor) : "0.00";
  $("#t-vat").textContent = money(t.vat_minor);
  $("#t-total").textContent = money(t.total_minor);
  $("#t-points-row").hidden = !(cart && cart.points_burned);
  if (cart && cart.points_burned) $("#t-points").textContent = `${money(-cart.points_value_minor)} (${cart.points_burned} pts)`;
  $("#cart tbody tr.selected")?.scrollIntoView({block: "nearest"});
  renderCustomer();
  renderOffers();
}

// The customer's personal offers: the cashier reads them out; the customer who takes one has
// the product scanned as usual, and the till gives the offer's price by itself.
function renderOffers() {
  const box = $("#offers");
  if (!box) return;
  const offers = (cart && cart.offers) || [];
  box.hidden = !offers.length;
  box.innerHTML = offers.map((o) => `<div class="offer" data-offer="${o.offer_id}">
    <div class="what">Offer: <b>${esc(o.name)}</b>, <span class="off">-${o.discount_bp / 100}&nbsp;%</span></div>
    <div class="price"><b>${money(o.offer_price_minor)}</b> instead of ${money(o.price_minor)}${o.unit === "kg" ? " a kg" : ""}</div>
    <div class="plu">PLU ${esc(o.sku)}: scan it for this price</div></div>`).join("");
}

// --- the customer and their card --------------------------------------------------------------

let card = {seq: -1, status: "no_reader"};  // what GET /api/v1/card said last

function expiringText(account) {
  return (account.expiring || []).map((e) => `${e.points} points expire on ${new Date(e.date + "T00:00:00").toLocaleDateString()}`).join("<br>");
}

function renderCustomer() {
  const box = $("#customer");
  if (!box) return;
  const account = cart && cart.customer ? cart.customer
    : (card.status === "identified" && card.account ? card.account : null);
  if (card.status === "refused" && !(cart && cart.customer)) {
    box.hidden = false; box.className = "customer refused";
    box.innerHTML = `<div class="name">Card refused</div><div id="card-error">${esc(card.error.message)}</div><div class="muted">${esc(card.error.code)}</div>`;
    return;
  }
  if (!account) { box.hidden = true; return; }
  const how = cart && cart.customer ? (cart.card_number ? "card in the reader" : "typed in: points cannot be spent")
    : "card in the reader: scan an item to start";
  box.hidden = false; box.className = "customer";
  box.innerHTML = `<div class="name" id="customer-name">${esc(account.name)}<span class="tier">${esc(account.tier)}</span></div>
    <div class="balance"><b id="customer-balance">${account.balance}</b> points</div>
    ${account.expiring && account.expiring.length ? `<div class="expiring" id="customer-expiring">${expiringText(account)}</div>` : ""}
    <div class="muted">${esc(account.card_number || "")} · ${how}</div>`;
}

async function identify(body) {
  const sale = await withOverride("POST", "/api/v1/cart/customer", body);
  render(sale);
  say(`Customer: ${sale.customer ? sale.customer.name : "found"}`, true);
  return sale;
}

// The reader is polled: a card going in shows its customer at once and makes the sale theirs.
async function pollCard() {
  let state;
  try { state = await api("GET", "/api/v1/card"); } catch (e) { return; }
  const changed = state.seq !== card.seq;
  // A card newly in the reader, not the same card's record rewritten after a sale.
  const arrived = state.status === "identified" && (card.status !== "identified" || card.card_number !== state.card_number);
  card = state;
  if (!changed) return;
  if (arrived && state.account && !$("#dialog").open) {
    if (!cart || !cart.customer || cart.card_number !== state.card_number) {
      scanQueue = scanQueue.then(() => identify({card_number: state.card_number})).catch((e) => say(e.message));
    }
  } else if (state.status === "refused") {
    say(`Card: ${state.error.message}`);
  }
  renderCustomer();
}

async function customerMenu() {
  // The dialog finds whom; making the sale theirs comes after it closes, since that may need
  // central's approval (a blocked customer), which has its own dialog.
  const body = await ask("Customer", `<p>Insert the card, or key its number (a damaged card), or the phone number.</p>
    <label>Card or phone number <input name="who" autocomplete="off" inputmode="numeric" required></label>`,
  async (f) => {
    const who = f.who.value.replace(/[\s-]/g, "");
    if (/^\d{16}$/.test(who)) return {card_number: who};
    const found = (await api("GET", "/api/v1/customers?q=" + encodeURIComponent(f.who.value.trim()))).customers;
    if (!found.length) throw new Error("No customer with that card or phone number.");
    return {customer_id: found[0].id};
  }, "Find");
  if (body) { try { await identify(body); } catch (e) { say(e.message); } }
}

// Before the money: points, when the customer's card is in the reader.
async function askPoints() {
  const c = cart.customer;
  if (!c || !cart.card_number || cart.points_burned || c.balance <= 0) return true;
  const pin = c.card_has_pin ? `<label>Card PIN (the customer types it) <input name="pin" type="password" inputmode="numeric" autocomplete="off"></label>` : "";
  const sale = await ask(`Points: ${c.name} has ${c.balance}`, `<p>How many points to spend? 0 or empty: none.</p>
    <label>Points <input name="points" id="points" inputmode="numeric" value="0"></label>${pin}`,
  (f) => {
    const points = parseInt(f.points.value.trim() || "0", 10);
    if (!(points >= 0)) throw new Error("Points as a whole number, please.");
    if (points === 0) return "none";
    return api("POST", "/api/v1/cart/points", {points, ...(f.pin && f.pin.value ? {pin: f.pin.value} : {})});
  }, "Next");
  if (sale === null) return false;
  if (sale !== "none") render(sale);
  return true;
}

function parseScan(text) {
  if (/^777\d{13}$/.test(text)) return {card: text};  // a loyalty card's barcode
  let quantity = "1";
  const m = text.match(/^(\d{1,6}(?:[.,]\d{1,3})?)\*(.+)$/);
  if (m) { quantity = m[1].replace(",", "."); text = m[2].trim(); }
  if (/^\d{8,14}$/.test(text)) return {barcode: text, quantity};
  if (/^[A-Za-z0-9-]{1,64}$/.test(text) && /\d/.test(text)) return {sku: text, quantity};
  return {search: text, quantity};
}

// Scans are queued and handled in order: a scanner types the next code while the previous
// one is still on its way to the server, so the field is emptied at once, not after the answer.
let scanQueue = Promise.resolve();

function onScan(ev) {
  ev.preventDefault();
  const scan = $("#scan");
  const text = scan.value.trim();
  if (!$("#search-results").hidden && results.length) { pickResult(); return; }
  if (!text) return;
  scan.value = "";
  scanQueue = scanQueue.then(() => handleScan(text)).catch((e) => say(e.message));
}

async function handleScan(text) {
  const item = parseScan(text);
  if (item.search !== undefined) { await search(text); return; }
  if (item.card !== undefined) {
    try { await identify({card_number: item.card}); } catch (e) { say(`${text}: ${e.message}`); }
    return;
  }
  try { render(await api("POST", "/api/v1/cart/lines", item)); }
  catch (e) { say(`${text}: ${e.message}`); }
}

async function search(text) {
  const q = text || $("#scan").value.trim();
  $("#scan").value = q;
  if (!q) { say("Type part of a name, then F3."); return; }
  try {
    results = (await api("GET", "/api/v1/products?q=" + encodeURIComponent(q))).products;
    resultIndex = 0;
    showResults();
    if (!results.length) say(`Nothing found for “${q}”.`);
  } catch (e) { say(e.message); }
}

function showResults() {
  const list = $("#search-results");
  list.hidden = !results.length;
  list.innerHTML = results.map((r, i) => `<li data-i="${i}" class="${i === resultIndex ? "selected" : ""}">
    <span>${esc(r.name)} <small>${esc(r.sku)}</small></span><b>${money(r.price_minor)}${r.unit === "kg" ? "/kg" : ""}</b></li>`).join("");
}

function hideResults() { results = []; $("#search-results").hidden = true; }

async function pickResult() {
  const r = results[resultIndex];
  hideResults();
  let quantity = "1";
  if (r.unit === "kg") {
    quantity = await ask(`Weight of ${r.name}`, `<label>Kilograms <input name="q" inputmode="decimal" required></label>`,
      (f) => { const v = f.q.value.trim().replace(",", "."); if (!/^\d+(\.\d{1,3})?$/.test(v) || Number(v) <= 0) throw new Error("Enter a weight like 0.750"); return v; });
    if (!quantity) return;
  }
  $("#scan").value = "";
  try { render(await api("POST", "/api/v1/cart/lines", {product_id: r.product_id, quantity})); }
  catch (e) { say(e.message); }
  focusScan();
}

function selectedLine() { return cart && cart.lines.find((l) => l.line_no === selected); }

async function changeQuantity() {
  const line = selectedLine();
  if (!line) { say("No line to change."); return; }
  const sale = await ask(`Quantity of ${line.name}`, `<label>Quantity${line.unit === "kg" ? " (kg)" : ""} <input name="q" value="${esc(line.quantity)}" inputmode="decimal" required></label>`,
    (f) => api("PATCH", `/api/v1/cart/lines/${line.line_no}`, {quantity: f.q.value.trim().replace(",", ".")}));
  if (sale) render(sale);
}

async function discount(which) {
  const line = selectedLine();
  if (which === "line" && !line) { say("No line to discount."); return; }
  if (!cart) { say("The sale is empty."); return; }
  const title = which === "line" ? `Discount on ${line.name}` : "Discount on the whole receipt";
  // A line takes a percent off, or a new price (a price override: a cut counts as a discount).
  const priceField = which === "line"
    ? `<label>or new price <input name="price" inputmode="decimal" placeholder="${esc(money(line.unit_price_minor))}"></label>` : "";
  const change = await ask(title, `<label>Percent <input name="p" inputmode="decimal"></label>${priceField}`,
    (f) => {
      if (f.price && f.price.value.trim()) {
        const minor = toMinor(f.price.value);
        if (minor === null) throw new Error("Enter the new price, like 79.90");
        return {unit_price_minor: minor};
      }
      const v = f.p.value.trim().replace(",", ".");
      if (!/^\d{1,3}(\.\d{1,2})?$/.test(v) || Number(v) > 100) throw new Error("Enter a percent from 0 to 100");
      return {discount_percent: v};
    });
  if (change === null) return;
  try {
    render(which === "line"
      ? await withOverride("PATCH", `/api/v1/cart/lines/${line.line_no}`, change)
      : await withOverride("PUT", "/api/v1/cart/discount", change));
  } catch (e) { say(e.message); }
}

async function removeLine() {
  const line = selectedLine();
  if (!line) { say("No line to delete."); return; }
  try { render(await api("DELETE", `/api/v1/cart/lines/${line.line_no}`)); say(`Deleted ${line.name}.`, true); }
  catch (e) { say(e.message); }
}

async function pay() {
  if (!cart || !cart.lines.length) { say("Nothing to pay for yet."); return; }
  if (!(await askPoints())) return;
  const total = cart.total_minor - (cart.points_value_minor || 0);
  const sale = await ask(`Payment: ${money(total)}${cart.points_burned ? ` (after ${cart.points_burned} points)` : ""}`, `
    <label>Cash received <input name="cash" inputmode="decimal" value="${money(total)}"></label>
    <label>Card (terminal) <input name="card" inputmode="decimal" value="0.00"></label>
    <label>Card reference (RRN) <input name="ref" autocomplete="off"></label>`,
    (f) => {
      const cash = toMinor(f.cash.value || "0"), card = toMinor(f.card.value || "0");
      if (cash === null || card === null) throw new Error("Amounts like 123.45, please.");
      const payments = [];
      if (card > 0) payments.push({method: "card", amount: card, ...(f.ref.value.trim() ? {reference: f.ref.value.trim()} : {})});
      if (cash > 0) payments.push({method: "cash", amount: cash});
      if (!payments.length) throw new Error("Enter how the customer pays.");
      return api("POST", "/api/v1/cart/checkout", {payments}).catch(async (e) => {
        // An offer ended since the last scan: the cart behind the dialog shows the new total.
        if (e.code === "offer_ended") render(await api("GET", "/api/v1/cart"));
        throw e;
      });
    }, "Pay");
  if (!sale) return;
  render(null);
  const last = $("#last");
  const earned = sale.lines.reduce((n, l) => n + (l.points_earned || 0), 0);
  last.hidden = false;
  last.innerHTML = `Receipt <b id="last-receipt">${esc(sale.receipt_no)}</b><br>Total ${money(sale.total_minor)}` +
    (sale.change_minor ? `<br>Change <b id="last-change">${money(sale.change_minor)}</b>` : "") +
    (sale.customer_id ? `<br>Points earned <b id="last-points">${earned}</b>` + (sale.points_burned ? `, spent ${sale.points_burned}` : "") : "") +
    (sale.card_record_written === false ? `<br><span class="expiring">Card taken out early: its record is updated next time.</span>` : "") +
    `<br><a href="/receipts/${encodeURIComponent(sale.receipt_no)}" target="_blank">Receipt</a> · ` +
    `<a href="/receipts/${encodeURIComponent(sale.receipt_no)}.pdf" target="_blank">PDF</a>`;
  say(sale.change_minor ? `Change: ${money(sale.change_minor)}` : "Paid. Thank you!", true);
  if (sale.customer_id) pollCard();  // the card's new balance
}

async function voidSale() {
  if (!cart) { say("There is no sale to void."); return; }
  const sale = await ask("Void this sale?", `<label>Reason <input name="r" required value="customer changed their mind"></label>`,
    (f) => api("POST", "/api/v1/cart/void", {reason: f.r.value.trim()}), "Void");
  if (sale) { render(null); say("Sale voided.", true); }
}

async function returnGoods() {
  const receipt = await ask("Return", `<p>Scan or key the receipt number. Leave it empty for a return without a receipt.</p>
    <label>Receipt number <input name="r" autocomplete="off"></label>`, (f) => f.r.value.trim(), "Next");
  if (receipt === null) return;
  if (!receipt) { await blindReturn(); return; }
  let original;
  try { original = await api("GET", "/api/v1/returns/lookup?receipt=" + encodeURIComponent(receipt)); }
  catch (e) { say(e.message); return; }
  const rows = original.lines.map((l) => `<tr><td>${l.line_no}</td><td>${esc(l.name)}</td>
    <td>${l.returnable_milli / 1000} of ${l.quantity_milli / 1000}</td>
    <td><input name="q${l.line_no}" data-line="${l.line_no}" size="6" inputmode="decimal" value="0"></td></tr>`).join("");
  const ret = await ask(`Return from ${receipt}`, `<table><tr><th>#</th><th>Item</th><th>Returnable</th><th>Return</th></tr>${rows}</table>
    <label>Reason <input name="reason" value="customer return"></label>`,
    (f) => {
      const lines = [...f.querySelectorAll("input[data-line]")]
        .map((i) => ({line_no: Number(i.dataset.line), quantity: i.value.trim().replace(",", ".")}))
        .filter((l) => Number(l.quantity) > 0);
      if (!lines.length) throw new Error("Enter what comes back.");
      return withOverride("POST", "/api/v1/returns", {receipt_no: receipt, lines, reason: f.reason.value.trim()});
    }, "Refund");
  if (ret) say(`Return ${ret.return_no}: refund ` + ret.refunds.map((r) => `${r.method} ${money(r.amount_minor)}`).join(", "), true);
}

async function blindReturn() {
  const ret = await ask("Return without a receipt", `<label>Item (barcode or PLU) <input name="code" required></label>
    <label>Quantity <input name="q" value="1" inputmode="decimal" required></label>
    <label>Reason <input name="reason" required></label>`,
    (f) => {
      const item = parseScan(f.code.value.trim());
      if (item.search !== undefined) throw new Error("Scan the barcode or key the PLU.");
      delete item.quantity;
      return withOverride("POST", "/api/v1/returns/blind", {lines: [{...item, quantity: f.q.value.trim().replace(",", ".")}], reason: f.reason.value.trim()});
    }, "Refund");
  if (ret) say(`Return ${ret.return_no}: refund cash ${money(ret.total_minor)}`, true);
}

function reportHtml(r) {
  const row = (k, v, id) => `<div${id ? ` id="${id}"` : ""}><span>${k}</span><b>${v}</b></div>`;
  return `<div class="report">${row("Shift", r.number)}${row("Float", money(r.opening_float_minor))}
    ${row("Sales", `${r.sales_count} · ${money(r.sales_minor)}`)}
    ${r.by_payment.map((p) => row(`&nbsp; ${p.method}`, `${money(p.sales_minor)}${p.refunds_minor ? ` (refunds ${money(p.refunds_minor)})` : ""}`)).join("")}
    ${r.by_vat.map((v) => row(`&nbsp; VAT ${v.vat_rate_bp / 100}%`, `${money(v.vat_minor)} of ${money(v.gross_minor)}`)).join("")}
    ${row("Returns", `${r.returns_count} · ${money(r.returns_minor)}`)}
    ${row("Voided / post-voided", `${r.voided_count} / ${r.post_voided_count}`)}
    ${row("Cash in / out", `${money(r.cash_in_minor)} / ${money(r.cash_out_minor)}`)}
    ${row("Expected cash", money(r.expected_cash_minor), "expected-cash")}
    ${r.counted_cash_minor !== null ? row("Counted", money(r.counted_cash_minor)) + row("Difference", money(r.difference_minor), "difference") : ""}</div>`;
}

async function shiftMenu() {
  let report;
  try { report = await api("GET", "/api/v1/shifts/current"); } catch (e) { say(e.message); return; }
  const choice = await ask(`Shift ${report.number}: X report`, reportHtml(report) + `
    <p class="hint">Next: <kbd>1</kbd> cash in · <kbd>2</kbd> cash out · <kbd>3</kbd> close the shift (Z report) · nothing: back to selling</p>
    <label>Next <input name="next" id="shift-next" maxlength="1" inputmode="numeric" autocomplete="off"></label>`,
    (f) => {
      const v = f.next.value.trim();
      if (!["", "1", "2", "3"].includes(v)) throw new Error("Type 1, 2 or 3, or leave it empty.");
      return {"": "", "1": "in", "2": "out", "3": "close"}[v];
    }, "Go");
  if (choice === "in" || choice === "out") {
    const done = await ask(choice === "in" ? "Cash in" : "Cash out", `<label>Amount <input name="a" inputmode="decimal" required></label>
      <label>Reason <input name="r" required></label>`,
      (f) => { const a = toMinor(f.a.value); if (!a) throw new Error("Enter an amount."); return api("POST", "/api/v1/shifts/current/cash", {kind: choice, amount: a, reason: f.r.value.trim()}); });
    if (done) say(`Cash ${choice === "in" ? "in" : "out"} recorded. Expected in the drawer: ${money(done.expected_cash_minor)}`, true);
  } else if (choice === "close") {
    const z = await ask("Close shift", `<p>Count the cash in the drawer.</p><label>Counted cash <input name="c" inputmode="decimal" required></label>`,
      (f) => { const c = toMinor(f.c.value); if (c === null) throw new Error("Enter the counted amount."); return api("POST", "/api/v1/shifts/current/close", {counted_cash: c}); }, "Close shift");
    if (z) { await ask(`Z report, shift ${z.number}`, reportHtml(z), () => true, "Done"); location.reload(); }
  }
}

async function signOut() {
  try { await api("DELETE", "/api/v1/session"); } catch (e) { /* signed out anyway */ }
  location.reload();
}

const KEYS = {
  F2: customerMenu, F3: () => search(), F4: changeQuantity, F5: () => discount("line"), F6: () => discount("receipt"),
  F7: returnGoods, F8: removeLine, Delete: removeLine, F9: pay, F10: voidSale, F11: shiftMenu, F12: signOut,
};

function onKey(ev) {
  if ($("#dialog")?.open) return;  // the dialog has its own keys
  const list = $("#search-results");
  if (list && !list.hidden) {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      resultIndex = (resultIndex + (ev.key === "ArrowDown" ? 1 : results.length - 1)) % results.length;
      showResults(); ev.preventDefault(); return;
    }
    if (ev.key === "Escape") { hideResults(); ev.preventDefault(); return; }
  } else if (cart && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
    const nos = cart.lines.map((l) => l.line_no);
    const i = Math.max(0, nos.indexOf(selected)) + (ev.key === "ArrowDown" ? 1 : -1);
    selected = nos[Math.min(nos.length - 1, Math.max(0, i))];
    render(cart); ev.preventDefault(); return;
  }
  const action = KEYS[ev.key];
  if (action && !(ev.key === "Delete" && $("#scan") && $("#scan").value)) {
    ev.preventDefault();
    runAfterScans(action);
  }
}

// A function key acts on the cart as it will be once the scans typed before it are in.
function runAfterScans(action) {
  scanQueue = scanQueue.then(action).catch((e) => say(e.message)).finally(focusScan);
}

async function pollStatus() {
  try {
    const s = await api("GET", "/api/v1/status");
    const badge = $("#badge");
    badge.className = "badge " + (s.state || "offline");
    badge.firstChild.textContent = (s.state_label || "offline") + " · ";
    $("#pending").textContent = s.pending_events;
    const backup = (s.backup || {}).state;
    const alarm = $("#backup-alarm");
    alarm.hidden = !["alarm", "down"].includes(backup);
    alarm.textContent = `backup ${backup}`;
  } catch (e) { /* the badge keeps its last state */ }
}

function init() {
  bindSimpleForms();
  document.querySelectorAll("[data-key]").forEach((b) => b.addEventListener("click", () => {
    const action = KEYS[b.dataset.key];
    if (action) runAfterScans(action);
  }));
  if ($("#scan")) {
    render(JSON.parse($("#initial-cart").textContent));
    $("#scan-form").addEventListener("submit", onScan);
    $("#search-results").addEventListener("click", (ev) => {
      const li = ev.target.closest("li"); if (li) { resultIndex = Number(li.dataset.i); pickResult(); }
    });
    $("#cart tbody").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr"); if (tr) { selected = Number(tr.dataset.line); render(cart); focusScan(); }
    });
    document.addEventListener("click", (ev) => { if (!ev.target.closest("dialog, input, select, a")) focusScan(); });
  }
  document.addEventListener("keydown", onKey);
  setInterval(pollStatus, 5000);
  if ($("#customer")) { pollCard(); setInterval(pollCard, 700); }
  // Clicking the badge asks for a sync now (the manager checking a till after an outage).
  $("#badge").addEventListener("click", async () => {
    try {
      await api("POST", "/api/v1/node/sync");
      setTimeout(pollStatus, 1500);
    } catch (e) { say(e.message); }
  });
  document.body.dataset.ready = "1";
}

init();
