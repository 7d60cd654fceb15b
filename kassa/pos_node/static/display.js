// The customer's display: polls the till's display state and shows it. Read-only: it calls
// nothing but GET /api/v1/display/state, answered 304 while nothing changed (see display_api).
"use strict";

const POLL_MS = 300;
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const money = (minor) => (minor < 0 ? "-" : "") + (Math.abs(minor) / 100).toFixed(2);
const percent = (bp) => `${(bp / 100).toFixed(bp % 100 ? 1 : 0)}\u00a0%`;

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
    <td class="name">${esc(l.name)}${l.offer ? `<span class="tag">your offer</span>` : ""}
      <div class="qty">${esc(l.quantity)} ${esc(l.unit)} × ${money(l.unit_price_minor)}${l.discount_minor ? ` · −${money(l.discount_minor)}` : ""}</div></td>
    <td class="amount">${money(l.amount_minor)}</td></tr>`).join("");
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
  $("#d-offer").innerHTML = `<div class="label">Just for you</div>
    <div class="what">${esc(o.name)}</div>
    <div class="price"><s>${money(o.price_minor)}</s> <b>${money(o.offer_price_minor)}</b> <span class="off">−${percent(o.discount_bp)}</span></div>`;
}

function renderCart(s) {
  renderLines(s.lines);
  renderCustomer(s.customer);
  renderOffer(s.offers);
  $("#d-discount-row").hidden = !s.discount_minor;
  $("#d-discount").textContent = money(s.discount_minor);
  $("#d-points-row").hidden = !s.points_burned;
  $("#d-points-label").textContent = `${s.points_burned} points`;
  $("#d-points").textContent = money(-s.points_value_minor);
  $("#d-total").textContent = money(s.to_pay_minor);
}

function renderThanks(t) {
  $("#d-thanks-title").textContent = t.first_name ? `Thank you, ${t.first_name}!` : "Thank you!";
  $("#d-paid").textContent = `Paid ${money(t.total_minor)}`;
  $("#d-change-row").hidden = !t.change_minor;
  $("#d-change").textContent = money(t.change_minor);
  const points = $("#d-thanks-points");
  points.hidden = t.balance === null;
  if (t.balance !== null) {
    points.innerHTML = `${t.points_earned ? `+<b id="d-thanks-earned">${t.points_earned}</b> points earned<br>` : ""}` +
      `Your balance: <b id="d-thanks-balance">${t.balance}</b> points`;
  }
}

function render(s) {
  $("#d-store").textContent = s.store;
  $("#d-foot-store").textContent = s.store;
  $("#d-cashier").textContent = s.cashier ? `Your cashier: ${s.cashier}` : "";
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
