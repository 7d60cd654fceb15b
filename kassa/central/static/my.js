// The customer's own page: signs in, then fills itself from /api/v1/me (JSON only, every
// change sent with the session's CSRF token). t(), tn(), amount(), money() and formatDate()
// come from i18n.js, in the page's language.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let csrf = document.querySelector('meta[name="csrf"]').content;
  const pages = { purchases: 1, points: 1 };
  const CONSENTS = { email: t("News by e-mail"), sms: t("Text messages"),
                     phone: t("Phone calls"), offers: t("Personal offers") };
  const CARD_STATUSES = { issued: t("Issued"), active: t("Active"), blocked: t("Blocked"),
                          replaced: t("Replaced") };
  const POINT_KINDS = { purchase: t("Purchase"), return: t("Return"), earn: t("Points earned"), burn: t("Points spent"),
                        reversal: t("Points taken back for a return"),
                        refund: t("Points given back for a return"),
                        expiry: t("Points expired"), adjustment: t("Points adjusted"),
                        transfer: t("Points moved from your old card") };

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
  // A card number as printed on the card: "7770 0000 0000 0001".
  const grouped = (number) => number.replace(/(\d{4})(?=\d)/g, "$1 ");
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
    $("balance-unit").textContent = tn("point", "points", me.balance);
    $("tier").textContent = me.tier;
    $("next-tier").textContent = me.next_tier
      ? "— " + t("%(amount)s more in purchases this year for %(tier)s",
                 { amount: money(me.next_tier.spend_needed_minor), tier: me.next_tier.tier })
      : "";
    $("expiring").replaceChildren(...me.expiring.map(
      (e) => item(tn("%(n)s point expires", "%(n)s points expire", e.points),
                  formatDate(e.on))));
    fill("cards", me.cards.map((c) => {
      const li = item(grouped(c.card_number), CARD_STATUSES[c.status] || c.status);
      if (c.status === "active" || c.status === "issued") {
        const lost = document.createElement("button");
        lost.className = "danger"; lost.textContent = t("Report lost");
        lost.onclick = () => reportLost(c.card_number);
        li.append(lost);
      }
      return li;
    }), t("No card"));
    const box = $("consents");
    box.replaceChildren(...me.consents.map((c) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.checked = c.granted;
      input.onchange = () => api("PUT", `/api/v1/me/consents/${c.channel}`,
                                 { granted: input.checked })
        .then(() => { say(t("Saved")); offers(); }, (e) => say(e.message));
      label.append(CONSENTS[c.channel] || c.channel, input);
      return label;
    }));
    await Promise.all([offers(), list("purchases"), list("points")]);
  }
  async function offers() {
    const o = await api("GET", "/api/v1/me/offers");
    fill("offers", o.items.map((x) => item(
      x.product, `−${String(x.discount_bp / 100).replace(".", I18N.decimal)}%`)),
         o.consented ? t("No offers just now") : t("Allow personal offers below to see yours"));
  }
  async function list(name) {
    const data = await api("GET", `/api/v1/me/${name}?page=${pages[name]}`);
    fill(name, data.items.map((x) => name === "purchases" ? purchaseRow(x) : pointsRow(x)),
      t("Nothing yet"));
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
  // A purchase: its day and store, a link to its receipt, its total.
  function purchaseRow(x) {
    const li = item(`${formatDate(x.sold_at)} · ${x.store_name} · `, amount(x.total_minor));
    const a = document.createElement("a");
    a.href = `#receipt-${x.receipt_no}`;
    a.textContent = t("Receipt %(number)s", { number: x.receipt_no });
    a.onclick = (ev) => { ev.preventDefault(); receipt(x.receipt_no); };
    li.firstChild.append(a);
    return li;
  }
  async function receipt(number) {
    const r = await api("GET", `/api/v1/me/receipts/${encodeURIComponent(number)}`);
    $("receipt-title").textContent = t("Receipt %(number)s", { number: r.receipt_no }) +
      ` · ${formatDate(r.sold_at)} · ${r.store_name || ""}`;
    fill("receipt-lines", r.lines.map((ln) => item(
      `${ln.name} × ${String(ln.quantity_milli / 1000).replace(".", I18N.decimal)}`,
      amount(ln.amount_minor))), "");
    $("receipt-total").textContent = t("Total %(amount)s", { amount: money(r.total_minor) });
    $("receipt-fiscal").textContent = r.fiscal
      ? t("Fiscal receipt: drive %(drive)s, document %(number)s, sign %(sign)s",
          { drive: r.fiscal.drive_number, number: r.fiscal.document_number, sign: r.fiscal.fiscal_sign })
      : t("This receipt is not a fiscal document.");
    $("receipt").hidden = false;
    $("receipt").scrollIntoView({ block: "nearest" });
  }
  // One purchase (or return, or expiry run) a row: what it was, where, its total, and the
  // points it earned and spent.
  function pointsRow(x) {
    const what = [formatDate(x.at), POINT_KINDS[x.kind] || x.kind];
    if (x.store_name) { what.push(x.store_name); }
    if (x.total_minor !== null) { what.push(amount(x.total_minor)); }
    if (x.voided) { what.push(t("cancelled")); }
    const moves = [];
    if (x.earned) { moves.push(`+${x.earned}`); }
    if (x.spent) { moves.push(`−${-x.spent}`); }
    const li = item(what.join(" · "), moves.join(" ") || "0");
    if (x.receipt_no) { li.title = t("Receipt %(number)s", { number: x.receipt_no }); }
    return li;
  }
  async function reportLost(number) {
    if (!confirm(t("Block card %(number)s now? It stops working in every shop, and we will prepare a new one for you.",
                   { number }))) { return; }
    try {
      await api("POST", "/api/v1/me/lost-card", { card_number: number });
      csrf = ""; show(false); say(t("The card is blocked. We will contact you about a new one."));
    } catch (e) { say(e.message); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = new FormData(ev.target);
      try {
        // as printed: "7770 0000 0000 0001" or with dashes is the same card
        const r = await api("POST", "/api/v1/me/sign-in",
                            { card_number: form.get("card_number").replace(/[\s-]/g, ""),
                              pin: form.get("pin") });
        csrf = r.csrf; $("signin-error").hidden = true; ev.target.reset();
        show(true); await load();
      } catch (e) {
        $("signin-error").textContent = e.message; $("signin-error").hidden = false;
      }
    });
    let email = "";
    $("code-ask").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      email = new FormData(ev.target).get("email");
      try {
        const r = await api("POST", "/api/v1/me/code", { email });
        $("code-sent").textContent = t("If %(email)s is the address we have for your card, a code is on its way. It works for %(minutes)s minutes.",
                                       { email, minutes: r.minutes });
        $("code-signin").hidden = false; $("signin-error").hidden = true;
        $("code-signin").querySelector("input").focus();
      } catch (e) {
        $("signin-error").textContent = e.message; $("signin-error").hidden = false;
      }
    });
    $("code-signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = new FormData(ev.target);
      const pin = form.get("new_pin");
      const refuse = (text) => { $("signin-error").textContent = text;
                                 $("signin-error").hidden = false; };
      if (pin && !/^[0-9]{4,8}$/.test(pin)) { refuse(t("A web PIN is 4-8 digits.")); return; }
      if (pin && pin !== form.get("new_pin_again")) {
        refuse(t("The two PINs differ: type the same one twice."));
        ev.target.elements.new_pin_again.focus();
        return;
      }
      try {
        // With a new PIN the code sets it (and signs in); without one it only signs in.
        const r = pin
          ? await api("POST", "/api/v1/me/web-pin", { email, code: form.get("code"), pin })
          : await api("POST", "/api/v1/me/sign-in", { email, code: form.get("code") });
        csrf = r.csrf; $("signin-error").hidden = true; ev.target.reset();
        show(true); await load();
        if (pin) {
          say(t("Your PIN is set. Next time, sign in with card %(number)s and it.",
                { number: grouped(r.card_number) }));
        }
      } catch (e) { refuse(e.message); }
    });
    $("sign-out").onclick = async () => { await api("POST", "/api/v1/me/sign-out");
                                          csrf = ""; show(false); };
    if (!$("me").hidden) { load().catch(() => show(false)); }
  });
})();
