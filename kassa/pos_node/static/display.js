// The customer's display: polls the till's display state and shows it. Read-only: it calls
// nothing but GET /api/v1/display/state, answered 304 while nothing changed (see display_api).
"use strict";

const POLL_MS = 300;
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
// amount(), t() and tn() come from i18n.js (the till's store's language).
const percent = (bp) => `${(bp / 100).toFixed(bp % 100 ? 1 : 0).replace(".", I18N.decimal)}\u00a0%`;
const UNITS = {pcs: t("pcs"), kg: t("kg")};
const quantity = (q) => String(q ?? "").replace(".", I18N.decimal);

let etag = null;
let shownLines = 0;

function show(phase) {
  document.body.className = phase;
  $("#d-idle").hidden = phase !== "idle";
  $("#d-cart").hidden = phase !== "cart";
  $("#d-thanks").hidden = phase !== "thanks";
}

function renderLines(lines) {
  $("#d-lines").innerHTML = lines.map((l, i) => `<tr class="${i === lines.length - 1 ? "newest" : ""}">
    <td class="name">${esc(l.name)}${l.offer ? `<span class="tag">${t("your offer")}</span>` : ""}
      <div class="qty">${esc(quantity(l.quantity))} ${esc(UNITS[l.unit] || l.unit)} × ${amount(l.unit_price_minor)}${l.discount_minor ? ` · −${amount(l.discount_minor)}` : ""}</div></td>
    <td class="amount">${amount(l.amount_minor)}</td></tr>`).join("");
  if (lines.length !== shownLines) {
    const last = $("#d-lines tr:last-child");
    if (last) last.scrollIntoView({block: "end"});
    shownLines = lines.length;
  }
}

function renderCustomer(c) {
  $("#d-customer").hidden = !c;
  if (!c) return;
  $("#d-customer-name").textContent = c.first_name;
  $("#d-balance").textContent = c.balance;
  $("#d-earn").textContent = `+${c.points_earned}`;
  $("#d-spend-row").hidden = !c.points_spendable;
  $("#d-spend").textContent = c.points_spendable;
}

function renderOffer(offers) {
  const o = offers[0];
  $("#d-offer").hidden = !o;
  if (!o) return;
  $("#d-offer").innerHTML = `<div class="label">${t("Just for you")}</div>
    <div class="what">${esc(o.name)}</div>
    <div class="price"><s>${amount(o.price_minor)}</s> <b>${amount(o.offer_price_minor)}</b> <span class="off">−${percent(o.discount_bp)}</span></div>`;
}

function renderCart(s) {
  renderLines(s.lines);
  renderCustomer(s.customer);
  renderOffer(s.offers);
  $("#d-discount-row").hidden = !s.discount_minor;
  $("#d-discount").textContent = amount(s.discount_minor);
  $("#d-points-row").hidden = !s.points_burned;
  $("#d-points-label").textContent = tn("%(n)s point", "%(n)s points", s.points_burned);
  $("#d-points").textContent = amount(-s.points_value_minor);
  $("#d-total").textContent = amount(s.to_pay_minor);
}

function renderThanks(th) {
  $("#d-thanks-title").textContent = th.first_name
    ? t("Thank you, %(name)s!", {name: th.first_name}) : t("Thank you!");
  $("#d-paid").textContent = t("Paid %(amount)s", {amount: money(th.total_minor)});
  $("#d-change-row").hidden = !th.change_minor;
  $("#d-change").textContent = amount(th.change_minor);
  const points = $("#d-thanks-points");
  points.hidden = th.balance === null;
  if (th.balance !== null) {
    const earned = `<b id="d-thanks-earned">${esc(th.points_earned)}</b>`;
    const balance = `<b id="d-thanks-balance">${esc(th.balance)}</b>`;
    points.innerHTML = (th.points_earned ? tn("+%(points)s point earned", "+%(points)s points earned",
      th.points_earned, {points: earned}) + "<br>" : "") +
      tn("Your balance: %(points)s point", "Your balance: %(points)s points", th.balance,
        {points: balance});
  }
}

function render(s) {
  $("#d-store").textContent = s.store;
  $("#d-foot-store").textContent = s.store;
  $("#d-cashier").textContent = s.cashier ? t("Your cashier: %(name)s", {name: s.cashier}) : "";
  if (s.phase === "cart") renderCart(s);
  else if (s.phase === "thanks") renderThanks(s.thanks);
  else shownLines = 0;
  show(s.phase);
}

async function poll() {
  try {
    const headers = {Accept: "application/json"};
    if (etag) headers["If-None-Match"] = etag;
    const resp = await fetch("/api/v1/display/state", {headers, cache: "no-store"});
    $("#d-link").hidden = true;
    if (resp.status === 200) {
      etag = resp.headers.get("ETag");
      render(await resp.json());
    }
  } catch (e) {
    $("#d-link").hidden = false;  // the till's server does not answer: the last state stays
  }
  setTimeout(poll, POLL_MS);
}

poll();
