// The customers page: find a customer, see everything about them (points history, cards, a
// receipt opened from its number), record consents and contacts; customer_actions.js adds the
// forms that change them. The customer on screen (and an open receipt) is in the address, so a
// reload or a language switch keeps them. api(), say() and cell() come from ops.js; t(), tn(),
// amount(), money(), formatDate() and formatDateTime() from i18n.js.
"use strict";

let shown = null;  // the customer on the page
const inMinor = (minor) => (minor === null || minor === undefined ? null : amount(minor));
const STATUSES = {customer: t("customer"), lead: t("lead")};
// The consent channels and the timeline's kinds of entry (purchase, return or a contact's
// channel), as the API names them.
const CONSENT_CHANNELS = {sms: t("sms"), email: t("email"), phone: t("phone"), offers: t("offers")};
const KINDS = {purchase: t("purchase"), return: t("return"), call: t("call"), email: t("email"),
  chat: t("chat"), social: t("social"), meeting: t("meeting"), event: t("event"),
  letter: t("letter"), sms: t("sms"), web_form: t("web form"), imported: t("imported purchase")};
const TIERS = {base: t("base"), silver: t("silver"), gold: t("gold"), platinum: t("platinum")};
// The analysis names its segments (rfm_segments) in English, each name its own message:
// t(name) puts one into the page's language. (Listed here to be in the catalog.)
const SEGMENT_NAMES = [t("Champions"), t("Loyal"), t("Potential loyalists"), t("New"),
  t("At risk"), t("Can't lose them"), t("Hibernating"), t("Lost")];

// The timeline's details come written by central ("receipt 12", "from customer: subject"):
// the known shapes are put into the page's language, anything else is shown as it is.
function details(e) {
  const s = e.summary || "";
  let m;
  if (e.kind === "purchase" && (m = /^receipt (.+)$/.exec(s))) {
    return t("receipt %(number)s", {number: m[1]});
  }
  if (e.kind === "return" && (m = /^return (.+) of (.+)$/.exec(s))) {
    return t("return %(number)s of %(receipt)s", {number: m[1], receipt: m[2]});
  }
  if (e.kind === "imported") return t("from the previous system");
  if ((m = /^from customer: ([\s\S]*)$/.exec(s))) return t("from customer: %(subject)s", {subject: m[1]});
  if ((m = /^to customer: ([\s\S]*)$/.exec(s))) return t("to customer: %(subject)s", {subject: m[1]});
  return s;
}

async function findCustomers(q) {
  const {customers} = await api("GET", "/api/v1/customers?q=" + encodeURIComponent(q));
  $("#customers-table tbody").replaceChildren(...customers.map((c) => {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.className = "pick";
    tr.dataset.id = c.id;
    tr.append(...resultCells(c));
    const open = () => showCustomer(c.id).catch((e) => say(e.message));
    tr.onclick = open;
    tr.onkeydown = (ev) => { if (ev.key === "Enter") open(); };
    return tr;
  }));
  $("#customers-table").hidden = !customers.length;
  if (customers.length === 1) await showCustomer(customers[0].id);
  else if (!customers.length) say(t("Nobody found."));
}

function resultCells(c) {
  return [c.name, c.phone, c.email, c.card_number, STATUSES[c.status] ?? c.status].map((v) => cell(v));
}

function loyaltyText(p) {
  if (!p.loyalty) return t("No loyalty account.");
  const held = p.loyalty.held ? " " + t("(%(n)s held for a sale in progress)",
    {n: points(p.loyalty.held)}) : "";
  return tn("%(n)s point, tier %(tier)s", "%(n)s points, tier %(tier)s", p.loyalty.balance,
    {n: points(p.loyalty.balance), tier: TIERS[p.loyalty.tier] ?? p.loyalty.tier}) + held;
}

const points = (n) => new Intl.NumberFormat(I18N.locale).format(n);
const signed = (n) => (n > 0 ? "+" : n < 0 ? "−" : "") + points(Math.abs(n));

// A receipt number as a link that opens the receipt on this page (and in the address).
function receiptLink(customerId, receiptNo) {
  const a = document.createElement("a");
  a.href = `?id=${customerId}&receipt=${encodeURIComponent(receiptNo)}`;
  a.textContent = receiptNo;
  a.onclick = (ev) => {
    ev.preventDefault();
    showReceipt(customerId, receiptNo).catch((e) => say(e.message));
  };
  return a;
}

function linkCell(customerId, receiptNo) {
  const td = document.createElement("td");
  if (receiptNo) td.append(receiptLink(customerId, receiptNo));
  else td.textContent = "–";
  return td;
}

const HISTORY_KINDS = {earn: t("earned"), burn: t("paid with points"),
  reversal: t("taken back on a return"), refund: t("given back on a return"),
  expiry: t("expired"), adjustment: t("adjusted by hand"), transfer: t("moved from a merged record")};

function historyRow(p, h) {
  const tr = document.createElement("tr");
  let what = HISTORY_KINDS[h.kind] ?? h.kind;
  if (h.source === "import") what = t("brought from the previous system");
  if (h.return_no) what = t("%(what)s (return %(number)s)", {what, number: h.return_no});
  const whatCell = cell(what);
  if (h.reason) {  // an adjustment's reason and who made it, under it
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = t("%(reason)s (%(who)s)", {reason: h.reason, who: h.by ?? "?"});
    whatCell.append(why);
  }
  const receipt = linkCell(p.id, h.receipt_no);
  if (h.receipt_no && h.store_code) receipt.append(" ", h.store_code);
  tr.append(cell(formatDateTime(h.at)), whatCell, receipt, cell(signed(h.points), "n"));
  return tr;
}

function scoresText(sc) {
  if (!sc) return t("Not scored yet: the analysis runs daily.");
  const segment = sc.segment ? t(sc.segment) : t("no segment");  // see SEGMENT_NAMES
  const decimal = (x, digits) => new Intl.NumberFormat(I18N.locale,
    {minimumFractionDigits: digits, maximumFractionDigits: digits}).format(x);
  return [`${segment} (R${sc.r} F${sc.f} M${sc.m})`,
    sc.p_alive !== null && t("still active with probability %(n)s %%", {n: Math.round(sc.p_alive * 100)}),
    sc.expected_purchases !== null && t("%(n)s purchases expected in %(days)s days",
      {n: decimal(sc.expected_purchases, 1), days: sc.horizon_days}),
    sc.value_12m_minor !== null && t("worth %(amount)s in the next 12 months",
      {amount: money(sc.value_12m_minor)}),
    t("scored %(date)s", {date: formatDate(sc.scored_at)})].filter(Boolean).join(" · ");
}

async function showCustomer(id) {
  const p = await api("GET", `/api/v1/customers/${id}`);
  shown = p;
  $("#profile").hidden = false;
  let title = p.status === "lead" ? t("%(name)s (lead)", {name: p.name}) : p.name;
  if (p.blocked) title = t("%(name)s · blocked", {name: title});
  $("#p-name").textContent = title;
  const facts = [p.phone, p.email,
    p.home_store_code && t("home store %(store)s", {store: p.home_store_code}),
    tn("%(n)s purchase, %(amount)s in all", "%(n)s purchases, %(amount)s in all",
      p.purchases.count, {amount: money(p.purchases.total_minor)}),
    p.purchases.imported.count && t("%(n)s imported, %(first)s to %(last)s", {n: p.purchases.imported.count,
      first: formatDate(p.purchases.imported.first_at), last: formatDate(p.purchases.imported.last_at)}),
    p.lead_source && t("came from %(source)s", {source: Object.values(p.lead_source).join(", ")})];
  $("#p-facts").textContent = facts.filter(Boolean).join(" · ");
  showDuplicate(p);
  $("#p-loyalty").textContent = loyaltyText(p);
  $("#p-scores").textContent = scoresText(p.scores);
  $("#offers-table").hidden = !p.offers.length;
  $("#offers-table tbody").replaceChildren(...p.offers.map((o) => {
    const tr = document.createElement("tr");
    [formatDateTime(o.at), o.product, o.store_code,
      o.held_out ? t("held out (no offer)") : o.accepted ? t("accepted") : t("not taken")]
      .forEach((v) => tr.append(cell(v)));
    return tr;
  }));
  $("#consents-table tbody").replaceChildren(...p.consents.map((c) => consentRow(p, c)));
  $("#cards-table tbody").replaceChildren(...p.cards.map((c) => cardRow(p, c)));
  $("#cards-table").hidden = !p.cards.length;
  $("#points-table tbody").replaceChildren(
    ...(p.loyalty ? p.loyalty.history : []).map((h) => historyRow(p, h)));
  $("#timeline-table tbody").replaceChildren(...p.timeline.map((e) => {
    const tr = document.createElement("tr");
    const what = cell(KINDS[e.kind] ?? e.kind.replace("_", " "));
    if (e.store_code) {  // where, under what
      const where = document.createElement("span");
      where.className = "why";
      where.textContent = e.store_code;
      what.append(where);
    }
    tr.append(cell(formatDateTime(e.at)), what);
    const td = cell(details(e));
    if (e.receipt_no) {  // the receipt number in the sentence becomes its link
      const [before, ...after] = td.textContent.split(e.receipt_no);
      td.replaceChildren(before, receiptLink(p.id, e.receipt_no), after.join(e.receipt_no));
    }
    tr.append(td, cell(inMinor(e.amount_minor), "n"));
    return tr;
  }));
  // The search's row of the customer, as they are now (after an edit, a new card).
  const found = document.querySelector(`#customers-table tr[data-id="${p.id}"]`);
  if (found) found.replaceChildren(...resultCells(p));
  if (shownReceipt && shownReceipt.customer !== p.id) closeReceipt();
  remember();
  if (typeof afterShow === "function") afterShow(p);  // customer_actions.js
}

// The address says who is on screen and which receipt is open.
let shownReceipt = null;
function remember() {
  const params = new URLSearchParams();
  if (shown) params.set("id", shown.id);
  if (shownReceipt) params.set("receipt", shownReceipt.number);
  history.replaceState(null, "", `?${params}`);
}

// A consent in force, where it came from, and the one button that changes it.
// Where a consent came from, as central keeps it: "<how> (<who>)" from the office and tills,
// a fixed name from the customer's page, the website's form and imports.
const CONSENT_SOURCES = {phone_call: t("on a phone call"), in_person: t("in person"),
  letter: t("in a letter"), email: t("by e-mail"), office: t("at the office")};
function sourceText(source) {
  if (!source) return null;
  const m = /^(.*) \(([^()]+)\)$/.exec(source);
  const how = m ? m[1] : source;
  let text = CONSENT_SOURCES[how], till;
  if (!text && (till = /^till (\S+)$/.exec(how))) text = t("at till %(till)s", {till: till[1]});
  if (!text && /^self-service/.test(how)) text = t("on the customer's page");
  if (!text && /^web form/.test(how)) text = t("on the website's form");
  if (!text && /^import /.test(how)) text = t("imported from the previous system");
  return m ? t("%(how)s, %(who)s", {how: text ?? how, who: m[2]}) : text ?? how;
}

function consentRow(p, c) {
  const tr = document.createElement("tr");
  const state = c.granted ? t("given") : c.at ? t("withdrawn") : t("not asked");
  const stateCell = cell(state);
  tr.append(cell(CONSENT_CHANNELS[c.channel] ?? c.channel), stateCell,
    cell(c.at && [formatDate(c.at), sourceText(c.source)].filter(Boolean).join(" · ")));
  const box = document.createElement("div");
  box.className = "actions";
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = c.granted ? t("Withdraw") : t("Give");
  b.className = c.granted ? "danger" : "";
  b.onclick = async () => {
    try {
      await api("PUT", `/api/v1/customers/${p.id}/consents/${c.channel}`,
        {granted: !c.granted, source: $("#consent-source").value});
      say(c.granted ? t("Consent withdrawn.") : t("Consent given."));
      await showCustomer(p.id);
    } catch (e) { say(e.message); }
  };
  box.append(b);
  stateCell.append(box);
  return tr;
}

const CARD_STATES = {issued: t("issued, not used yet"), active: t("active"), blocked: t("blocked"),
  replaced: t("replaced"), stock: t("in stock")};
const BLOCK_REASONS = {lost: t("lost"), stolen: t("stolen"), damaged: t("damaged"),
  fraud: t("fraud"), replaced: t("replaced"), erased: t("erased"), merged: t("merged")};

function cardState(c) {
  let text = CARD_STATES[c.status] ?? c.status;
  if (c.block_reason && c.block_reason !== c.status) {
    text = t("%(state)s: %(reason)s", {state: text, reason: BLOCK_REASONS[c.block_reason] ?? c.block_reason});
  }
  if (c.replaced_by) text = t("%(state)s by %(card)s", {state: text, card: c.replaced_by});
  return text;
}

function cardRow(p, c) {
  const tr = document.createElement("tr");
  tr.dataset.card = c.card_number;
  const number = c.kind === "printed" ? t("%(card)s (printed)", {card: c.card_number}) : c.card_number;
  const state = cell(cardState(c));
  const actions = typeof cardActions === "function" ? cardActions(p, c) : [];  // customer_actions.js
  if (actions.length) {
    const box = document.createElement("div");
    box.className = "actions";
    box.append(...actions);
    state.append(box);
  }
  tr.append(cell(number), state, cell(formatDate(c.expires_on)));
  return tr;
}

// One of the customer's receipts, above the points history.
async function showReceipt(customerId, receiptNo) {
  const r = await api("GET", `/api/v1/customers/${customerId}/receipts/${encodeURIComponent(receiptNo)}`);
  shownReceipt = {customer: customerId, number: receiptNo};
  $("#receipt").hidden = false;
  $("#r-title").textContent = r.status === "completed" ? t("Receipt %(number)s", {number: r.receipt_no})
    : t("Receipt %(number)s (voided)", {number: r.receipt_no});
  $("#r-facts").textContent = [formatDateTime(r.sold_at),
    r.store_name ? `${r.store_code} ${r.store_name}` : r.store_code,
    r.cashier && t("cashier %(name)s", {name: r.cashier})].filter(Boolean).join(" · ");
  $("#receipt-lines tbody").replaceChildren(...r.lines.map((ln) => {
    const tr = document.createElement("tr");
    tr.append(cell(ln.name), cell(new Intl.NumberFormat(I18N.locale).format(ln.quantity_milli / 1000), "n"),
      cell(amount(ln.unit_price_minor), "n"), cell(amount(ln.amount_minor), "n"),
      cell(ln.points_earned ? points(ln.points_earned) : null, "n"));
    return tr;
  }));
  const METHODS = {cash: t("cash"), card: t("bank card"), points: t("points")};
  $("#r-totals").textContent = [t("Total %(amount)s", {amount: money(r.total_minor)}),
    r.discount_minor && t("discount %(amount)s", {amount: money(r.discount_minor)}),
    ...r.payments.map((pay) => `${METHODS[pay.method] ?? pay.method} ${money(pay.amount_minor)}`),
    tn("%(n)s point earned", "%(n)s points earned", r.points_earned, {n: points(r.points_earned)}),
    r.points_burned && tn("%(n)s point paid", "%(n)s points paid", r.points_burned, {n: points(r.points_burned)}),
    ...r.returns.map((ret) => t("return %(number)s of %(amount)s", {number: ret.return_no, amount: money(ret.total_minor)}))]
    .filter(Boolean).join(" · ");
  $("#r-fiscal").textContent = r.fiscal
    ? t("Fiscal receipt: drive %(drive)s, document %(number)s, sign %(sign)s",
        {drive: r.fiscal.drive_number, number: r.fiscal.document_number, sign: r.fiscal.fiscal_sign})
    : t("Not fiscalised (the till has no fiscal register)");
  remember();
  $("#receipt").scrollIntoView({block: "nearest"});
}

function closeReceipt() {
  shownReceipt = null;
  $("#receipt").hidden = true;
  remember();
}
$("#r-close").addEventListener("click", closeReceipt);

// The record most likely the same person (a member signed up at a till with the phone of a
// customer kassa had): open it, or merge it into this one (its purchases, points and cards
// come over; central office and admins).
function showDuplicate(p) {
  const d = p.likely_duplicate;
  $("#p-duplicate").hidden = !d;
  if (!d) return;
  const same = {phone: t("the same phone"), email: t("the same e-mail"), name: t("the same name")};
  $("#p-duplicate-text").textContent = t("Likely the same person as %(name)s: %(same)s.",
    {name: d.name, same: d.same.map((s) => same[s] ?? s).join(", ")});
  $("#p-duplicate-open").onclick = () => showCustomer(d.id).catch((e) => say(e.message));
  $("#p-duplicate-merge").onclick = async () => {
    if (!confirm(t("Merge %(other)s into %(name)s? This cannot be undone.", {other: d.name, name: p.name}))) return;
    try {
      await api("POST", `/api/v1/customers/${p.id}/merge`, {other_id: d.id});
      say(t("Merged."));
      await showCustomer(p.id);
    } catch (e) { say(e.message); }
  };
}

$("#customer-search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  findCustomers(ev.target.q.value.trim()).catch((e) => say(e.message));
});
$("#contact-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await api("POST", `/api/v1/customers/${shown.id}/interactions`, {channel: f.channel.value,
      direction: f.direction.value, subject: f.subject.value.trim(), body: f.body.value.trim()});
    f.reset();
    say(t("Logged."));
    await showCustomer(shown.id);
  } catch (e) { say(e.message); }
});
const wanted = new URLSearchParams(location.search);
if (wanted.get("id")) {
  showCustomer(wanted.get("id")).then(() => wanted.get("receipt") &&
    showReceipt(wanted.get("id"), wanted.get("receipt"))).catch((e) => say(e.message));
}
