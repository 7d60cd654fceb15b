// The customer's own page: signs in, then fills itself from /api/v1/me (JSON only, every
// change sent with the session's CSRF token).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let csrf = document.querySelector('meta[name="csrf"]').content;
  const pages = { purchases: 1, points: 1 };
  const CONSENTS = { email: "News by e-mail", sms: "Text messages", phone: "Phone calls",
                     offers: "Personal offers" };

  async function api(method, url, body) {
    const resp = await fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json" },
                             csrf ? { "X-CSRF-Token": csrf } : {}),
      body: body === undefined ? undefined : JSON.stringify(body) });
    const data = resp.status === 204 ? null : await resp.json();
    if (resp.status === 401 && url !== "/api/v1/me/sign-in") { show(false); }
    if (!resp.ok) { throw Object.assign(new Error(data.message), { code: data.error }); }
    return data;
  }
  function money(minor) { return (minor / 100).toFixed(2); }
  function day(iso) { return new Date(iso).toLocaleDateString(); }
  function item(left, right) {
    const li = document.createElement("li");
    const a = document.createElement("span"); a.textContent = left;
    const b = document.createElement("span"); b.className = "n"; b.textContent = right;
    li.append(a, b);
    return li;
  }
  function fill(id, items, empty) {
    $(id).replaceChildren(...(items.length ? items : [item(empty, "")]));
  }
  function say(text) {
    $("message").textContent = text; $("message").hidden = false;
    setTimeout(() => { $("message").hidden = true; }, 3000);
  }
  function show(signedIn) {
    $("signin-box").hidden = signedIn; $("me").hidden = !signedIn;
    $("sign-out").hidden = !signedIn;
  }

  async function load() {
    const me = await api("GET", "/api/v1/me");
    $("me-name").textContent = me.name;
    $("balance").textContent = me.balance;
    $("tier").textContent = me.tier;
    $("next-tier").textContent = me.next_tier ? `— ${money(me.next_tier.spend_needed_minor)} ` +
      `more in purchases this year for ${me.next_tier.tier}` : "";
    $("expiring").replaceChildren(...me.expiring.map(
      (e) => item(`${e.points} points expire`, day(e.on))));
    fill("cards", me.cards.map((c) => {
      const li = item(c.card_number, c.status);
      if (c.status === "active" || c.status === "issued") {
        const lost = document.createElement("button");
        lost.className = "danger"; lost.textContent = "Report lost";
        lost.onclick = () => reportLost(c.card_number);
        li.append(lost);
      }
      return li;
    }), "No card");
    const box = $("consents");
    box.replaceChildren(...me.consents.map((c) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.checked = c.granted;
      input.onchange = () => api("PUT", `/api/v1/me/consents/${c.channel}`,
                                 { granted: input.checked })
        .then(() => { say("Saved"); offers(); }, (e) => say(e.message));
      label.append(CONSENTS[c.channel] || c.channel, input);
      return label;
    }));
    await Promise.all([offers(), list("purchases"), list("points")]);
  }
  async function offers() {
    const o = await api("GET", "/api/v1/me/offers");
    fill("offers", o.items.map((x) => item(x.product, `−${x.discount_bp / 100}%`)),
         o.consented ? "No offers just now" : "Allow personal offers below to see yours");
  }
  async function list(name) {
    const data = await api("GET", `/api/v1/me/${name}?page=${pages[name]}`);
    fill(name, data.items.map((x) => name === "purchases"
      ? item(`${day(x.sold_at)} · ${x.store_name}`, money(x.total_minor))
      : item(`${day(x.at)} · ${x.kind}`, (x.points > 0 ? "+" : "") + x.points)),
      "Nothing yet");
    const nav = document.querySelector(`.pager[data-list="${name}"]`);
    nav.replaceChildren();
    if (data.pages > 1) {
      for (const [text, to] of [["‹", data.page - 1], [`${data.page} / ${data.pages}`, 0],
                                ["›", data.page + 1]]) {
        const b = document.createElement("button");
        b.textContent = text;
        b.disabled = !to || to < 1 || to > data.pages;
        b.onclick = () => { pages[name] = to; list(name); };
        nav.append(b);
      }
    }
  }
  async function reportLost(number) {
    if (!confirm(`Block card ${number} now? It stops working in every shop, and we will ` +
                 "prepare a new one for you.")) { return; }
    try {
      await api("POST", "/api/v1/me/lost-card", { card_number: number });
      csrf = ""; show(false); say("The card is blocked. We will contact you about a new one.");
    } catch (e) { say(e.message); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = new FormData(ev.target);
      try {
        const r = await api("POST", "/api/v1/me/sign-in",
                            { card_number: form.get("card_number"), pin: form.get("pin") });
        csrf = r.csrf; $("signin-error").hidden = true; ev.target.reset();
        show(true); await load();
      } catch (e) {
        $("signin-error").textContent = e.message; $("signin-error").hidden = false;
      }
    });
    $("sign-out").onclick = async () => { await api("POST", "/api/v1/me/sign-out");
                                          csrf = ""; show(false); };
    if (!$("me").hidden) { load().catch(() => show(false)); }
  });
})();
