// The till's screen logic: keyboard first (a barcode scanner types digits + Enter), every
// action on a function key shown on screen, the focus always back on the scan field.
"use strict";

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
// A quantity shown (not typed back): "0.75" -> "0,75" where the locale writes a comma.
const decimal = (value) => String(value).replace(".", I18N.decimal);
// Payment methods as the cashier reads them (the API speaks codes).
const METHODS = {cash: t("cash"), card: t("card"), points: t("points")};
const methodName = (code) => METHODS[code] || code;
// Pieces of dialogs: their words come in as arguments, so that every t() stands outside a
// template literal (where the message extraction would not see it).
const para = (text) => `<p>${esc(text)}</p>`;
const field = (label, input) => `<label>${esc(label)} ${input}</label>`;

class ApiError extends Error {
  constructor(message, code, details) { super(message); this.code = code; this.details = details; }
}

async function api(method, path, body) {
  const opts = {method, credentials: "same-origin", headers: {Accept: "application/json"}};
  // Every change carries this browser's CSRF token (the till refuses one without it).
  const csrf = document.querySelector("meta[name=csrf-token]");
  if (method !== "GET" && csrf) opts.headers["X-CSRF-Token"] = csrf.content;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try { resp = await fetch(path, opts); } catch (e) { throw new ApiError(t("The till's server does not answer."), "no_server"); }
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
// A dialog: `html` in its body, `onOk(form)` on Enter (what it returns is the answer; what it
// throws is shown), null on Esc. `cancel: false` for what cannot be cancelled any more (a Z
// report of a shift already closed): one button, and Esc only closes it.
function ask(title, html, onOk, okLabel = "OK", {cancel = true} = {}) {
  const dialog = $("#dialog");
  $("#dialog-title").textContent = title;
  $("#dialog-body").innerHTML = html;
  bindMoneyInputs($("#dialog-body"));
  $("#dialog-error").textContent = "";
  $("#dialog-ok").firstChild.textContent = okLabel + " ";
  $("#dialog-cancel").hidden = !cancel;
  return new Promise((resolve) => {
    const form = $("#dialog-form");
    const finish = (value) => {
      form.onsubmit = null; form.onkeydown = null; $("#dialog-cancel").onclick = null; dialog.oncancel = null;
      $("#dialog-cancel").hidden = false;
      dialog.close(); focusScan(); resolve(value);
    };
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      try { finish(await onOk(form)); }
      catch (e) { $("#dialog-error").textContent = e.message; }
    };
    $("#dialog-cancel").onclick = () => finish(null);
    dialog.oncancel = (ev) => { ev.preventDefault(); finish(null); };
    // Enter on a tick box (Space ticks it) confirms, as it does on a text field.
    form.onkeydown = (ev) => {
      if (ev.key === "Enter" && ev.target.type === "checkbox") { ev.preventDefault(); form.requestSubmit(); }
    };
    dialog.showModal();
    const first = dialog.querySelector("#dialog-body input, #dialog-body select");
    (first || $("#dialog-ok")).focus();
    if (first && first.select) first.select();
  });
}

function askOverride(why) {
  return ask(t("Manager approval"), para(why) +
    field(t("Manager"), '<input name="username" autocomplete="off" required>') +
    field(t("Manager PIN"), '<input name="pin" type="password" inputmode="numeric" autocomplete="off" required>') +
    field(t("Reason"), '<input name="reason" required>'),
  (f) => ({username: f.username.value.trim(), pin: f.pin.value, reason: f.reason.value.trim()}),
  t("Approve"));
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
    if (!override) throw new ApiError(t("Cancelled: %(reason)s", {reason: e.message}), "cancelled");
    return api(method, path, {...body, override});
  }
}

// Central's approval: asked at once, then waited for (the dialog shows it; Esc gives up).
async function askCentral(details, why) {
  let answer = await api("POST", "/api/v1/authorizations", {kind: details.kind, amount: details.amount, subject: details.subject});
  let cancelled = false;
  if (answer.status === "pending") {
    const dialog = $("#dialog");
    $("#dialog-title").textContent = t("Waiting for central");
    const asked = t("Asked central office (%(policy)s); the customer waits…", {policy: answer.policy});
    $("#dialog-body").innerHTML = `${para(why)}<p id="central-wait">${esc(asked)}</p>`;
    $("#dialog-error").textContent = "";
    $("#dialog-cancel").onclick = () => { cancelled = true; dialog.close(); };
    dialog.oncancel = (ev) => { ev.preventDefault(); cancelled = true; dialog.close(); };
    $("#dialog-form").onsubmit = (ev) => ev.preventDefault();
    $("#dialog-ok").hidden = true;  // nothing to confirm: central answers, or Esc gives up
    dialog.showModal();
    while (answer.status === "pending" && !cancelled) {
      answer = await api("GET", `/api/v1/authorizations/${answer.id}?wait=10`);
      if (answer.level && answer.status === "pending") $("#central-wait").textContent = askedLevel(answer.level);
    }
    if (dialog.open) dialog.close();
    $("#dialog-cancel").onclick = null; dialog.oncancel = null; $("#dialog-form").onsubmit = null;
    $("#dialog-ok").hidden = false;
    focusScan();
  }
  if (cancelled) throw new ApiError(t("Cancelled while waiting for central."), "cancelled");
  if (answer.status !== "approved") {
    const text = answer.status === "expired" ? t("Central expired it: %(reason)s", {reason: answer.reason})
      : t("Central declined it: %(reason)s", {reason: answer.reason});
    throw new ApiError(text, "central_" + answer.status);
  }
  return answer.id;
}

// Whom central asks now (its request climbs from the office to the regional manager to admin).
function askedLevel(level) {
  const asked = {
    central_office: t("Asked central office; the customer waits…"),
    regional_manager: t("Asked regional manager; the customer waits…"),
    admin: t("Asked admin; the customer waits…"),
  };
  return asked[level] || asked.central_office;
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
    let float;
    try { float = moneyValue(open.opening_float, 0); } catch (e) { say(e.message); return; }
    try { await api("POST", "/api/v1/shifts/current", {opening_float: float}); location.reload(); }
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
  const empty = t("Scan the first item, key its PLU, or type a name and press F3.");
  if (!lines.some((l) => l.line_no === selected)) selected = lines.length ? lines[lines.length - 1].line_no : 0;
  const promotion = esc(t("promotion"));
  const offerTaken = (l) => t("personal offer %(discount)s", {discount: `-${l.offer_discount_bp / 100}&nbsp;%`});
  const quantity = (l) => esc(l.unit === "kg" ? t("%(quantity)s kg", {quantity: decimal(l.quantity)}) : decimal(l.quantity));
  $("#cart tbody").innerHTML = lines.map((l) => `
    <tr data-line="${l.line_no}" class="${l.line_no === selected ? "selected" : ""}">
      <td>${l.line_no}</td>
      <td>${esc(l.name)}${l.promotion_id ? `<span class="promo">${promotion}</span>` : ""}${l.offer_id ? `<span class="promo offer-taken">${offerTaken(l)}</span>` : ""}</td>
      <td class="num">${quantity(l)}</td>
      <td class="num">${amount(l.unit_price_minor)}</td>
      <td class="num">${l.discount_minor ? amount(-l.discount_minor) : ""}${l.line_discount_bp ? ` (${l.line_discount_bp / 100}%)` : ""}</td>
      <td class="num">${amount(l.amount_minor)}</td></tr>`).join("")
    || `<tr class="empty"><td colspan="6">${esc(empty)}</td></tr>`;
  const sums = cart || {gross_minor: 0, discount_minor: 0, vat_minor: 0, total_minor: 0};
  $("#t-gross").textContent = amount(sums.gross_minor);
  $("#t-discount").textContent = amount(sums.discount_minor ? -sums.discount_minor : 0);
  $("#t-vat").textContent = amount(sums.vat_minor);
  $("#t-total").textContent = amount(sums.total_minor);
  $("#t-points-row").hidden = !(cart && cart.points_burned);
  if (cart && cart.points_burned) {
    $("#t-points").textContent = tn("%(amount)s (%(n)s pt)", "%(amount)s (%(n)s pts)", cart.points_burned,
      {amount: amount(-cart.points_value_minor)});
  }
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
  box.innerHTML = offers.map((o) => {
    const what = t("Offer: %(name)s, %(discount)s",
      {name: `<b>${esc(o.name)}</b>`, discount: `<span class="off">-${o.discount_bp / 100}&nbsp;%</span>`});
    const prices = {offer: `<b>${amount(o.offer_price_minor)}</b>`, price: amount(o.price_minor)};
    const price = o.unit === "kg" ? t("%(offer)s instead of %(price)s a kg", prices) : t("%(offer)s instead of %(price)s", prices);
    const plu = t("PLU %(sku)s: scan it for this price", {sku: esc(o.sku)});
    return `<div class="offer" data-offer="${o.offer_id}">
    <div class="what">${what}</div>
    <div class="price">${price}</div>
    <div class="plu">${plu}</div></div>`;
  }).join("");
}

// --- the customer and their card --------------------------------------------------------------

let card = {seq: -1, status: "no_reader"};  // what GET /api/v1/card said last

function expiringText(account) {
  return (account.expiring || []).map((e) => esc(tn("%(n)s point expires on %(date)s", "%(n)s points expire on %(date)s", e.points,
    {date: formatDate(e.date + "T00:00:00")}))).join("<br>");
}

function renderCustomer() {
  const box = $("#customer");
  if (!box) return;
  const account = cart && cart.customer ? cart.customer
    : (card.status === "identified" && card.account ? card.account : null);
  if (card.status === "refused" && !(cart && cart.customer)) {
    const refused = t("Card refused");
    box.hidden = false; box.className = "customer"; box.classList.add("refused");
    box.innerHTML = `<div class="name">${esc(refused)}</div><div id="card-error">${esc(card.error.message)}</div><div class="muted">${esc(card.error.code)}</div>`;
    return;
  }
  if (!account) { box.hidden = true; return; }
  const how = cart && cart.customer ? (cart.card_number ? t("card in the reader") : t("typed in: points cannot be spent"))
    : t("card in the reader: scan an item to start");
  const balance = tn("%(balance)s point", "%(balance)s points", account.balance,
    {balance: `<b id="customer-balance">${esc(account.balance)}</b>`});
  box.hidden = false; box.className = "customer";
  box.innerHTML = `<div class="name" id="customer-name">${esc(account.name)}<span class="tier">${esc(account.tier)}</span></div>
    <div class="balance">${balance}</div>
    ${account.expiring && account.expiring.length ? `<div class="expiring" id="customer-expiring">${expiringText(account)}</div>` : ""}
    <div class="muted">${esc(account.card_number || "")} · ${esc(how)}</div>`;
}

async function identify(body) {
  const sale = await withOverride("POST", "/api/v1/cart/customer", body);
  render(sale);
  say(sale.customer ? t("Customer: %(name)s", {name: sale.customer.name}) : t("Customer: found"), true);
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
  } else if (arrived && state.in_stock && !$("#dialog").open) {
    // A new card from the store's stock: whoever holds it is signing up.
    scanQueue = scanQueue.then(() => newMember()).catch((e) => say(e.message)).finally(focusScan);
  } else if (state.status === "refused") {
    say(t("Card: %(message)s", {message: state.error.message}));
  }
  renderCustomer();
}

async function customerMenu() {
  // The dialog finds whom; making the sale theirs comes after it closes, since that may need
  // central's approval (a blocked customer), which has its own dialog. Nobody found: Enter
  // again signs them up, with what was typed.
  let notFound = null;
  const body = await ask(t("Customer"), para(t("Insert the card, or key its number (a damaged card), the phone number or the e-mail.")) +
    field(t("Card, phone or e-mail"), '<input name="who" autocomplete="off" required>'),
  async (f) => {
    const typed = f.who.value.trim();
    const who = typed.replace(/[\s-]/g, "");
    if (/^\d{16}$/.test(who)) return {card_number: who};
    if (notFound === typed) return {newMember: typed};
    const found = (await api("GET", "/api/v1/customers?q=" + encodeURIComponent(typed))).customers;
    if (!found.length) {
      notFound = typed;
      throw new Error(t("No customer with that card, phone or e-mail. Enter again: sign them up as a new member."));
    }
    return {customer_id: found[0].id};
  }, t("Find"));
  if (body && body.newMember !== undefined) {
    await newMember(body.newMember.includes("@") ? {email: body.newMember} : {phone: body.newMember});
  } else if (body) { try { await identify(body); } catch (e) { say(e.message); } }
}

// A new member, in the sale: name, phone and/or e-mail, the consents they give, and a card from
// the store's stock (the smart card in the reader, or a printed card scanned: its Enter signs
// them up). The till does it offline too; central hears of it with the sale.
async function newMember(given = {}) {
  const inReader = card.status === "identified" && card.in_stock ? card.card_number : null;
  const consent = (channel, label) => `<label class="check"><input type="checkbox" name="consent" value="${channel}"> ${esc(label)}</label>`;
  const cardPart = inReader ? para(t("Their card: the new card in the reader, %(number)s.", {number: inReader}))
    : field(t("Card from the store's stock (scan it, or leave it empty)"), '<input name="mcard" id="member-card" autocomplete="off" inputmode="numeric">');
  let force = false;
  const sale = await ask(t("New member"),
    field(t("Full name"), '<input name="mname" id="member-name" autocomplete="off" required>') +
    field(t("Phone"), `<input name="mphone" id="member-phone" type="tel" autocomplete="off" value="${esc(given.phone || "")}">`) +
    field(t("E-mail"), `<input name="memail" id="member-email" inputmode="email" autocomplete="off" value="${esc(given.email || "")}">`) +
    `<fieldset class="consents"><legend>${esc(t("They agree to hear from us by"))}</legend>` +
    consent("sms", t("SMS")) + consent("email", t("e-mail")) + consent("phone", t("phone calls")) +
    consent("offers", t("personal offers at the till")) + "</fieldset>" + cardPart,
  async (f) => {
    const value = (name) => (f.elements.namedItem(name)?.value || "").trim() || null;
    const body = {
      name: value("mname") || "", phone: value("mphone"), email: value("memail"),
      consents: [...f.querySelectorAll("input[name=consent]:checked")].map((c) => c.value),
      card_number: inReader || (value("mcard") || "").replace(/[\s-]/g, "") || null, force,
    };
    try { return await api("POST", "/api/v1/members", body); }
    catch (e) {
      if (e.code !== "likely_duplicate" || force) throw e;
      force = true;  // a family's shared phone: the cashier confirms with Enter
      throw new Error(t("%(message)s Enter again: sign up anyway.", {message: e.message}));
    }
  }, t("Sign up"));
  if (!sale) return;
  render(sale);
  say(t("Welcome, %(name)s: a member now.", {name: sale.customer.name}), true);
}

// Before the money: points, when the customer's card is in the reader.
async function askPoints() {
  const c = cart.customer;
  if (!c || !cart.card_number || cart.points_burned || c.balance <= 0) return true;
  const pin = c.card_has_pin ? field(t("Card PIN (the customer types it)"), '<input name="pin" type="password" inputmode="numeric" autocomplete="off">') : "";
  const sale = await ask(t("Points: %(name)s has %(balance)s", {name: c.name, balance: c.balance}), para(t("How many points to spend? 0 or empty: none.")) +
    field(t("Points"), '<input name="points" id="points" inputmode="numeric" placeholder="0" autocomplete="off">') + pin,
  (f) => {
    const points = parseInt(f.points.value.trim() || "0", 10);
    if (!(points >= 0)) throw new Error(t("Points as a whole number, please."));
    if (points === 0) return "none";
    return api("POST", "/api/v1/cart/points", {points, ...(f.pin && f.pin.value ? {pin: f.pin.value} : {})});
  }, t("Next"));
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
  try { renderAdded(await api("POST", "/api/v1/cart/lines", item)); }
  catch (e) { say(`${text}: ${e.message}`); }
}

async function search(text) {
  const q = text || $("#scan").value.trim();
  $("#scan").value = q;
  if (!q) { say(t("Type part of a name, then F3.")); return; }
  try {
    results = (await api("GET", "/api/v1/products?q=" + encodeURIComponent(q))).products;
    resultIndex = 0;
    showResults();
    if (!results.length) say(t("Nothing found for “%(query)s”.", {query: q}));
  } catch (e) { say(e.message); }
}

function showResults() {
  const list = $("#search-results");
  list.hidden = !results.length;
  const price = (r) => (r.unit === "kg" ? t("%(price)s/kg", {price: amount(r.price_minor)}) : amount(r.price_minor));
  list.innerHTML = results.map((r, i) => `<li data-i="${i}" class="${i === resultIndex ? "selected" : ""}">
    <span>${esc(r.name)} <small>${esc(r.sku)}</small></span><b>${esc(price(r))}</b></li>`).join("");
}

function hideResults() { results = []; $("#search-results").hidden = true; }

async function pickResult() {
  const r = results[resultIndex];
  hideResults();
  let quantity = "1";
  if (r.unit === "kg") {
    quantity = await ask(t("Weight of %(name)s", {name: r.name}), field(t("Kilograms"), '<input name="q" inputmode="decimal" required>'),
      (f) => { const v = f.q.value.trim().replace(",", "."); if (!/^\d+(\.\d{1,3})?$/.test(v) || Number(v) <= 0) throw new Error(t("Enter a weight like 0.750")); return v; });
    if (!quantity) return;
  }
  $("#scan").value = "";
  try { renderAdded(await api("POST", "/api/v1/cart/lines", {product_id: r.product_id, quantity})); }
  catch (e) { say(e.message); }
  focusScan();
}

function selectedLine() { return cart && cart.lines.find((l) => l.line_no === selected); }

// An item added (scanned, keyed or picked) selects its line, new or counted up, as every till
// does: F4, F5 and F8 then act on what was just scanned.
function renderAdded(sale) {
  const was = new Map((cart ? cart.lines : []).map((l) => [l.line_no, l.quantity]));
  const line = sale.lines.find((l) => !was.has(l.line_no))
    || sale.lines.find((l) => was.get(l.line_no) !== l.quantity);
  if (line) selected = line.line_no;
  render(sale);
}

async function changeQuantity() {
  const line = selectedLine();
  if (!line) { say(t("No line to change.")); return; }
  const sale = await ask(t("Quantity of %(name)s", {name: line.name}),
    field(line.unit === "kg" ? t("Quantity (kg)") : t("Quantity"), `<input name="q" value="${esc(line.quantity)}" inputmode="decimal" required>`),
    (f) => api("PATCH", `/api/v1/cart/lines/${line.line_no}`, {quantity: f.q.value.trim().replace(",", ".")}));
  if (sale) render(sale);
}

async function discount(which) {
  const line = selectedLine();
  if (which === "line" && !line) { say(t("No line to discount.")); return; }
  if (!cart) { say(t("The sale is empty.")); return; }
  const title = which === "line" ? t("Discount on %(name)s", {name: line.name}) : t("Discount on the whole receipt");
  // A line takes a percent off, or a new price (a price override: a cut counts as a discount).
  const priceField = which === "line"
    ? field(t("or new price"), `<input name="price" data-money data-placeholder-minor="${line.unit_price_minor}">`) : "";
  const change = await ask(title, field(t("Percent"), '<input name="p" inputmode="decimal">') + priceField,
    (f) => {
      const price = f.price ? moneyValue(f.price) : null;
      if (price !== null) return {unit_price_minor: price};
      const v = f.p.value.trim().replace(",", ".");
      if (!/^\d{1,3}(\.\d{1,2})?$/.test(v) || Number(v) > 100) throw new Error(t("Enter a percent from 0 to 100"));
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
  if (!line) { say(t("No line to delete.")); return; }
  try { render(await api("DELETE", `/api/v1/cart/lines/${line.line_no}`)); say(t("Deleted %(name)s.", {name: line.name}), true); }
  catch (e) { say(e.message); }
}

async function pay() {
  if (!cart || !cart.lines.length) { say(t("Nothing to pay for yet.")); return; }
  if (!(await askPoints())) return;
  const total = cart.total_minor - (cart.points_value_minor || 0);
  const title = cart.points_burned
    ? tn("Payment: %(amount)s (after %(n)s point)", "Payment: %(amount)s (after %(n)s points)", cart.points_burned, {amount: amount(total)})
    : t("Payment: %(amount)s", {amount: amount(total)});
  const sale = await ask(title,
    para(t("Nothing typed: the rest in cash, exactly.")) +
    field(t("Cash received"), `<input name="cash" data-money data-placeholder-minor="${total}">`) +
    field(t("Card (terminal)"), '<input name="card" data-money>') +
    field(t("Card reference (RRN)"), '<input name="ref" autocomplete="off">') +
    field(t("E-receipt to (e-mail)"), '<input name="email" type="email" autocomplete="off">'),
    (f) => {
      const card = moneyValue(f.card, 0);
      const cash = moneyValue(f.cash, Math.max(0, total - card));
      const payments = [];
      if (card > 0) payments.push({method: "card", amount: card, ...(f.ref.value.trim() ? {reference: f.ref.value.trim()} : {})});
      if (cash > 0) payments.push({method: "cash", amount: cash});
      if (!payments.length) throw new Error(t("Enter how the customer pays."));
      const email = f.email.value.trim();
      return api("POST", "/api/v1/cart/checkout", {payments, ...(email ? {receipt_email: email} : {})}).catch(async (e) => {
        // An offer ended since the last scan: the cart behind the dialog shows the new total.
        if (e.code === "offer_ended") render(await api("GET", "/api/v1/cart"));
        throw e;
      });
    }, t("Pay"));
  if (!sale) return;
  render(null);
  const last = $("#last");
  const earned = sale.lines.reduce((n, l) => n + (l.points_earned || 0), 0);
  last.hidden = false;
  const points = {earned: `<b id="last-points">${earned}</b>`, spent: sale.points_burned};
  last.innerHTML = t("Receipt %(number)s", {number: `<b id="last-receipt">${esc(sale.receipt_no)}</b>`}) +
    "<br>" + t("Total %(amount)s", {amount: amount(sale.total_minor)}) +
    (sale.change_minor ? "<br>" + t("Change %(amount)s", {amount: `<b id="last-change">${amount(sale.change_minor)}</b>`}) : "") +
    (sale.customer_id ? "<br>" + (sale.points_burned ? t("Points earned %(earned)s, spent %(spent)s", points)
      : t("Points earned %(earned)s", points)) : "") +
    (sale.card_record_written === false ? '<br><span class="expiring">' + esc(t("Card taken out early: its record is updated next time.")) + "</span>" : "") +
    `<br><a href="/receipts/${encodeURIComponent(sale.receipt_no)}" target="_blank">` + esc(t("Receipt")) + "</a> · " +
    `<a href="/receipts/${encodeURIComponent(sale.receipt_no)}.pdf" target="_blank">PDF</a>`;
  say(sale.change_minor ? t("Change: %(amount)s", {amount: amount(sale.change_minor)}) : t("Paid. Thank you!"), true);
  if (sale.customer_id) pollCard();  // the card's new balance
}

async function voidSale() {
  if (!cart) { say(t("There is no sale to void.")); return; }
  const reason = t("customer changed their mind");
  const sale = await ask(t("Void this sale?"), field(t("Reason"), `<input name="r" required value="${esc(reason)}">`),
    (f) => api("POST", "/api/v1/cart/void", {reason: f.r.value.trim()}), t("Void"));
  if (sale) { render(null); say(t("Sale voided."), true); }
}

async function returnGoods() {
  const receipt = await ask(t("Return"), para(t("Scan or key the receipt number. Leave it empty for a return without a receipt.")) +
    field(t("Receipt number"), '<input name="r" autocomplete="off">'), (f) => f.r.value.trim(), t("Next"));
  if (receipt === null) return;
  if (!receipt) { await blindReturn(); return; }
  let original;
  try { original = await api("GET", "/api/v1/returns/lookup?receipt=" + encodeURIComponent(receipt)); }
  catch (e) { say(e.message); return; }
  const of = (l) => t("%(returnable)s of %(quantity)s", {returnable: decimal(l.returnable_milli / 1000), quantity: decimal(l.quantity_milli / 1000)});
  const rows = original.lines.map((l) => `<tr><td>${l.line_no}</td><td>${esc(l.name)}</td>
    <td>${esc(of(l))}</td>
    <td><input name="q${l.line_no}" data-line="${l.line_no}" size="6" inputmode="decimal" placeholder="0" autocomplete="off"></td></tr>`).join("");
  const head = ["#", t("Item"), t("Returnable"), t("Return")].map((h) => `<th>${esc(h)}</th>`).join("");
  const reason = t("customer return");
  const ret = await ask(t("Return from %(receipt)s", {receipt}), `<table><tr>${head}</tr>${rows}</table>` +
    field(t("Reason"), `<input name="reason" value="${esc(reason)}">`),
    (f) => {
      const lines = [...f.querySelectorAll("input[data-line]")]
        .map((i) => ({line_no: Number(i.dataset.line), quantity: i.value.trim().replace(",", ".")}))
        .filter((l) => Number(l.quantity) > 0);
      if (!lines.length) throw new Error(t("Enter what comes back."));
      return withOverride("POST", "/api/v1/returns", {receipt_no: receipt, lines, reason: f.reason.value.trim()});
    }, t("Refund"));
  if (ret) {
    const refunds = ret.refunds.map((r) => `${methodName(r.method)} ${amount(r.amount_minor)}`);
    say(t("Return %(number)s: refund %(refunds)s", {number: ret.return_no, refunds: refunds.join(", ")}), true);
  }
}

async function blindReturn() {
  const ret = await ask(t("Return without a receipt"),
    field(t("Item (barcode or PLU)"), '<input name="code" required>') +
    field(t("Quantity"), '<input name="q" value="1" inputmode="decimal" required>') +
    field(t("Reason"), '<input name="reason" required>'),
    (f) => {
      const item = parseScan(f.code.value.trim());
      if (item.search !== undefined) throw new Error(t("Scan the barcode or key the PLU."));
      delete item.quantity;
      return withOverride("POST", "/api/v1/returns/blind", {lines: [{...item, quantity: f.q.value.trim().replace(",", ".")}], reason: f.reason.value.trim()});
    }, t("Refund"));
  if (ret) say(t("Return %(number)s: refund cash %(amount)s", {number: ret.return_no, amount: amount(ret.total_minor)}), true);
}

function reportHtml(r) {
  const row = (k, v, id) => `<div ${id ? `id="${id}"` : ""}><span>${esc(k)}</span><b>${esc(v)}</b></div>`;
  const payments = r.by_payment.map((p) => row("\u00a0 " + methodName(p.method), p.refunds_minor
    ? t("%(amount)s (refunds %(refunds)s)", {amount: amount(p.sales_minor), refunds: amount(p.refunds_minor)})
    : amount(p.sales_minor)));
  const vat = r.by_vat.map((v) => row("\u00a0 " + t("VAT %(rate)s%%", {rate: v.vat_rate_bp / 100}),
    t("%(vat)s of %(gross)s", {vat: amount(v.vat_minor), gross: amount(v.gross_minor)})));
  // Sales per day of the store's clock (a shift past midnight has two): the days central counts.
  const days = (r.days || []).map((d) => row("\u00a0 " + formatDate(d.day), `${d.sales_count} · ${amount(d.sales_minor)}`, `day-${d.day}`));
  const counted = r.counted_cash_minor === null ? ""
    : row(t("Counted"), amount(r.counted_cash_minor)) + row(t("Difference"), amount(r.difference_minor), "difference");
  return '<div class="report">' + row(t("Shift"), r.number) + row(t("Float"), amount(r.opening_float_minor)) +
    row(t("Sales"), `${r.sales_count} · ${amount(r.sales_minor)}`) + days.join("") + payments.join("") + vat.join("") +
    row(t("Returns"), `${r.returns_count} · ${amount(r.returns_minor)}`) +
    row(t("Voided / post-voided"), `${r.voided_count} / ${r.post_voided_count}`) +
    row(t("Cash in / out"), `${amount(r.cash_in_minor)} / ${amount(r.cash_out_minor)}`) +
    row(t("Expected cash"), amount(r.expected_cash_minor), "expected-cash") + counted + "</div>";
}

// A menu in the dialog: a button per choice, each on its own key (or arrows/Tab and Enter);
// Esc goes back. Resolves to the chosen value, or null. The dialog opens at once, so keys
// pressed right after the one that opened it are not lost; `fill(head)` may then fill in
// the title and the head above the choices (a report still on its way).
function choose(title, choices, fill) {
  const dialog = $("#dialog");
  $("#dialog-title").textContent = title;
  const buttons = choices.map((c) => `<button type="button" data-choice="${c.value}">${esc(c.label)} <kbd>${c.key}</kbd></button>`);
  $("#dialog-body").innerHTML = `<div id="choice-head"></div><div class="choices">${buttons.join("")}</div>`;
  $("#dialog-error").textContent = "";
  $("#dialog-ok").hidden = true;
  $("#dialog-cancel").firstChild.textContent = t("Back to selling") + " ";
  return new Promise((resolve) => {
    const form = $("#dialog-form");
    const finish = (value) => {
      form.onkeydown = null; form.onclick = null; form.onsubmit = null; $("#dialog-cancel").onclick = null; dialog.oncancel = null;
      $("#dialog-ok").hidden = false; $("#dialog-cancel").firstChild.textContent = t("Cancel") + " ";
      dialog.close(); focusScan(); resolve(value);
    };
    form.onsubmit = (ev) => ev.preventDefault();
    form.onclick = (ev) => { const b = ev.target.closest("[data-choice]"); if (b) finish(b.dataset.choice); };
    form.onkeydown = (ev) => {
      const picked = choices.find((c) => c.key === ev.key);
      // Stopped here: the dialog closes at once, and the page's own key table must not act
      // on the same key as well (F3 "cash out" also ran a search after it).
      if (picked) { ev.preventDefault(); ev.stopPropagation(); finish(picked.value); return; }
      const all = [...form.querySelectorAll("[data-choice]")], at = all.indexOf(document.activeElement);
      if ((ev.key === "ArrowDown" || ev.key === "ArrowRight" || ev.key === "ArrowUp" || ev.key === "ArrowLeft") && all.length) {
        const step = ev.key === "ArrowDown" || ev.key === "ArrowRight" ? 1 : all.length - 1;
        all[(Math.max(0, at) + step) % all.length].focus(); ev.preventDefault();
      }
    };
    $("#dialog-cancel").onclick = () => finish(null);
    dialog.oncancel = (ev) => { ev.preventDefault(); finish(null); };
    dialog.showModal();
    form.querySelector("[data-choice]").focus();
    if (fill) fill($("#choice-head")).catch((e) => { finish(null); say(e.message); });
  });
}

async function shiftMenu() {
  const choice = await choose(t("X report"), [
    {key: "F2", value: "in", label: t("Cash in")},
    {key: "F3", value: "out", label: t("Cash out")},
    {key: "F4", value: "close", label: t("Close the shift (Z report)")},
    ...printerChoices(),
  ], async (head) => {
    const report = await api("GET", "/api/v1/shifts/current");
    if (!head.isConnected) return;  // a choice was made before the report came
    $("#dialog-title").textContent = t("Shift %(number)s: X report", {number: report.number});
    head.innerHTML = reportHtml(report);
  });
  if (choice === "in" || choice === "out") {
    const done = await ask(choice === "in" ? t("Cash in") : t("Cash out"),
      field(t("Amount"), '<input name="a" data-money>') + field(t("Reason"), '<input name="r" required>'),
      (f) => { const a = moneyValue(f.a); if (!a) throw new Error(t("Enter an amount.")); return api("POST", "/api/v1/shifts/current/cash", {kind: choice, amount: a, reason: f.r.value.trim()}); });
    if (done) {
      const drawer = {amount: amount(done.expected_cash_minor)};
      say(choice === "in" ? t("Cash in recorded. Expected in the drawer: %(amount)s", drawer)
        : t("Cash out recorded. Expected in the drawer: %(amount)s", drawer), true);
    }
  } else if (choice === "print-x" || choice === "drawer") {
    await printerChoice(choice);
  } else if (choice === "close") {
    const z = await ask(t("Close shift"), para(t("Count the cash in the drawer.")) + field(t("Counted cash"), '<input name="c" data-money>'),
      (f) => { const c = moneyValue(f.c); if (c === null) throw new Error(t("Enter the counted amount.")); return api("POST", "/api/v1/shifts/current/close", {counted_cash: c}); }, t("Close shift"));
    if (z) {
      await ask(t("Z report, shift %(number)s", {number: z.number}), reportHtml(z), () => true, t("Done"), {cancel: false});
      location.reload();
    }
  }
}

// --- the receipt printer and the cash drawer ---------------------------------------------------

// The printer's state beside the sync badge (hidden at a till without a printer).
// The fiscal register's badge, in the till's language (the API says its state as a code).
function showFiscal(f) {
  const badge = $("#fiscal");
  if (!badge || !f) return;
  const labels = {
    ready: t("register: ready"), unknown: t("register: on"), fiscal_paper_out: t("register: out of paper"),
    fiscal_cover_open: t("register: cover open"), fiscal_shift_expired: t("register: shift over 24 h"),
    fiscal_ofd_backlog: t("register: receipts not sent to the OFD"), fiscal_no_answer: t("register: not answering"),
  };
  badge.hidden = f.state === "off";
  badge.className = "device " + f.state;
  $("#fiscal-state").textContent = labels[f.state] || f.state;
}

function showPrinter(p) {
  const badge = $("#printer");
  if (!badge || !p) return;
  const labels = {
    ready: t("printer: ready"), paper_low: t("printer: paper low"), no_paper: t("printer: out of paper"),
    cover_open: t("printer: cover open"), offline: t("printer: off-line"), error: t("printer: error"),
    unreachable: t("printer: not answering"), unknown: t("printer: on"),
  };
  badge.hidden = p.state === "off";
  badge.className = "device " + p.state;
  $("#printer-state").textContent = labels[p.state] || p.state;
  $("#printer-waiting").hidden = !p.waiting;
  $("#printer-waiting").textContent = p.waiting ? " · " + t("%(n)s to print", {n: p.waiting}) : "";
}

// F1: the last receipt again, marked COPY (the customer lost it, or the paper ran out).
async function reprintLast() {
  const done = await api("POST", "/api/v1/printer/reprint", {});
  say(t("Printing a copy of receipt %(number)s.", {number: done.receipt_no}), true);
  setTimeout(pollStatus, 1000);
}

// The shift menu's printer choices, at a till with a printer.
function printerChoices() {
  const printer = $("#printer") && !$("#printer").hidden, register = $("#fiscal") && !$("#fiscal").hidden;
  return [
    ...(printer || register ? [{key: "F5", value: "print-x", label: t("Print the X report")}] : []),
    ...(printer ? [{key: "F6", value: "drawer", label: t("Open the drawer")}] : []),
  ];
}

async function printerChoice(choice) {
  if (choice === "print-x") {
    await api("POST", "/api/v1/shifts/current/x-report");
    say(t("Printing the X report."), true);
    return;
  }
  const opened = await withOverride("POST", "/api/v1/drawer/open", {});
  if (opened) say(t("The drawer opens."), true);
}

async function signOut() {
  try { await api("DELETE", "/api/v1/session"); } catch (e) { /* signed out anyway */ }
  location.reload();
}

const KEYS = {
  F1: reprintLast, F2: customerMenu, Insert: () => newMember(), F3: () => search(), F4: changeQuantity, F5: () => discount("line"), F6: () => discount("receipt"),
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

// The badge's words in the till's language (the API says the state as a code).
function badgeLabel(s) {
  if (s.state === "clock_skew") {
    const skew = s.clock_skew_seconds || 0, hours = Math.abs(skew) / 3600;
    const off = hours >= 1 ? t("%(n)s h", {n: Math.round(hours)}) : t("%(n)s s", {n: Math.abs(skew)});
    return skew > 0 ? t("clock skew: %(off)s ahead", {off}) : t("clock skew: %(off)s behind", {off});
  }
  const labels = {online: t("online"), offline: t("offline"), refused: t("refused by central")};
  return labels[s.state] || labels.offline;
}

async function pollStatus() {
  try {
    const s = await api("GET", "/api/v1/status");
    const badge = $("#badge");
    badge.className = "badge " + (s.state || "offline");
    $("#badge-state").textContent = badgeLabel(s);
    $("#pending").textContent = s.pending_events;
    const backup = (s.backup || {}).state;
    const alarm = $("#backup-alarm");
    alarm.hidden = !["alarm", "down"].includes(backup);
    alarm.textContent = backup === "down" ? t("backup down") : t("backup alarm");
    showPrinter(s.printer);
    showFiscal(s.fiscal);
  } catch (e) { /* the badge keeps its last state */ }
}

function init() {
  bindMoneyInputs();
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
  pollStatus();
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
