// The customers page: find a customer, see everything about them, record consents and
// contacts. api(), say() and cell() come from ops.js; t(), tn(), amount(), money(),
// formatDate() and formatDateTime() from i18n.js.
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
const CARDS = {
  issued: (card) => t("%(card)s (issued)", {card}), active: (card) => t("%(card)s (active)", {card}),
  blocked: (card) => t("%(card)s (blocked)", {card}), replaced: (card) => t("%(card)s (replaced)", {card}),
};
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
    [c.name, c.phone, c.email, c.card_number, STATUSES[c.status] ?? c.status]
      .forEach((v) => tr.append(cell(v)));
    const open = () => showCustomer(c.id).catch((e) => say(e.message));
    tr.onclick = open;
    tr.onkeydown = (ev) => { if (ev.key === "Enter") open(); };
    return tr;
  }));
  if (customers.length === 1) await showCustomer(customers[0].id);
  else if (!customers.length) say(t("Nobody found."));
}

function loyaltyText(p) {
  if (!p.loyalty) return t("No loyalty account.");
  const cards = p.cards.map((c) => (CARDS[c.status] ? CARDS[c.status](c.card_number)
    : `${c.card_number} (${c.status})`)).join(", ") || t("none");
  return tn("%(n)s point, tier %(tier)s; cards: %(cards)s",
    "%(n)s points, tier %(tier)s; cards: %(cards)s", p.loyalty.balance,
    {n: new Intl.NumberFormat(I18N.locale).format(p.loyalty.balance),
      tier: TIERS[p.loyalty.tier] ?? p.loyalty.tier, cards});
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
  $("#consents-table tbody").replaceChildren(...p.consents.map((c) => {
    const tr = document.createElement("tr");
    [CONSENT_CHANNELS[c.channel] ?? c.channel, c.granted ? t("agreed") : t("no"),
      c.at && formatDate(c.at), c.source].forEach((v) => tr.append(cell(v)));
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = c.granted ? t("withdraw") : t("agrees");
    b.onclick = async () => {
      try {
        await api("PUT", `/api/v1/customers/${p.id}/consents/${c.channel}`, {granted: !c.granted, source: "office"});
        await showCustomer(p.id);
      } catch (e) { say(e.message); }
    };
    td.append(b);
    tr.append(td);
    return tr;
  }));
  $("#timeline-table tbody").replaceChildren(...p.timeline.map((e) => {
    const tr = document.createElement("tr");
    [formatDateTime(e.at), KINDS[e.kind] ?? e.kind.replace("_", " "), e.store_code, details(e)]
      .forEach((v) => tr.append(cell(v)));
    tr.append(cell(inMinor(e.amount_minor), "n"));
    return tr;
  }));
  history.replaceState(null, "", `?id=${p.id}`);
}

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
const wanted = new URLSearchParams(location.search).get("id");
if (wanted) showCustomer(wanted).catch((e) => say(e.message));
