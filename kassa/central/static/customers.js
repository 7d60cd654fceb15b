// The customers page: find a customer, see everything about them, record consents and
// contacts. api(), say(), cell() and when() come from ops.js.
"use strict";

let shown = null;  // the customer on the page
const money2 = (minor) => (minor === null || minor === undefined ? null : (minor / 100).toFixed(2));

async function findCustomers(q) {
  const {customers} = await api("GET", "/api/v1/customers?q=" + encodeURIComponent(q));
  $("#customers-table tbody").replaceChildren(...customers.map((c) => {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.className = "pick";
    [c.name, c.phone, c.email, c.card_number, c.status].forEach((v) => tr.append(cell(v)));
    const open = () => showCustomer(c.id).catch((e) => say(e.message));
    tr.onclick = open;
    tr.onkeydown = (ev) => { if (ev.key === "Enter") open(); };
    return tr;
  }));
  if (customers.length === 1) await showCustomer(customers[0].id);
  else if (!customers.length) say("Nobody found.");
}

async function showCustomer(id) {
  const p = await api("GET", `/api/v1/customers/${id}`);
  shown = p;
  $("#profile").hidden = false;
  $("#p-name").textContent = p.name + (p.status === "lead" ? " (lead)" : "") + (p.blocked ? " · blocked" : "");
  const facts = [p.phone, p.email, p.home_store_code && `home store ${p.home_store_code}`,
    `${p.purchases.count} purchases, ${money2(p.purchases.total_minor)} in all`,
    p.lead_source && `came from ${Object.values(p.lead_source).join(", ")}`];
  $("#p-facts").textContent = facts.filter(Boolean).join(" · ");
  $("#p-loyalty").textContent = p.loyalty
    ? `${p.loyalty.balance} points, tier ${p.loyalty.tier}; cards: ${p.cards.map((c) => `${c.card_number} (${c.status})`).join(", ") || "none"}`
    : "No loyalty account.";
  const sc = p.scores;
  $("#p-scores").textContent = sc
    ? [`${sc.segment || "no segment"} (R${sc.r} F${sc.f} M${sc.m})`,
      sc.p_alive !== null && `still active with probability ${Math.round(sc.p_alive * 100)} %`,
      sc.expected_purchases_90d !== null && `${sc.expected_purchases_90d.toFixed(1)} purchases expected in 90 days`,
      sc.value_12m_minor !== null && `worth ${money2(sc.value_12m_minor)} in the next 12 months`,
      `scored ${new Date(sc.scored_at).toLocaleDateString()}`].filter(Boolean).join(" · ")
    : "Not scored yet: the analysis runs daily.";
  $("#offers-table").hidden = !p.offers.length;
  $("#offers-table tbody").replaceChildren(...p.offers.map((o) => {
    const tr = document.createElement("tr");
    [when(o.at), o.product, o.store_code,
      o.held_out ? "held out (no offer)" : o.accepted ? "accepted" : "not taken"].forEach((v) => tr.append(cell(v)));
    return tr;
  }));
  $("#consents-table tbody").replaceChildren(...p.consents.map((c) => {
    const tr = document.createElement("tr");
    [c.channel, c.granted ? "agreed" : "no", c.at && new Date(c.at).toLocaleDateString(), c.source].forEach((v) => tr.append(cell(v)));
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = c.granted ? "withdraw" : "agrees";
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
    [when(e.at), e.kind.replace("_", " "), e.store_code, e.summary].forEach((v) => tr.append(cell(v)));
    tr.append(cell(money2(e.amount_minor), "n"));
    return tr;
  }));
  history.replaceState(null, "", `?id=${p.id}`);
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
    say("Logged.");
    await showCustomer(shown.id);
  } catch (e) { say(e.message); }
});
const wanted = new URLSearchParams(location.search).get("id");
if (wanted) showCustomer(wanted).catch((e) => say(e.message));
