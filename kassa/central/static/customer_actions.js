// What the office changes from a customer's page (customers.js shows the page): contact
// details, with the likely duplicate shown and kept apart only when asked; cards blocked,
// found again or replaced (central staff); points adjusted by hand within the role's limit.
// Every change is the API's, which checks and audits it; the page then shows the customer
// again as central has them.
"use strict";

const profileBox = $("#profile");
const CARD_STAFF = ["admin", "central_office", "regional_manager"].includes(profileBox.dataset.role);
const POINTS_LIMIT = Number(profileBox.dataset.pointsLimit || 0);
const FINAL_BLOCKS = ["replaced", "erased", "merged"];
let pendingEdit = null;  // the change a likely duplicate held back, to save anyway

function afterShow(p) {
  $("#edit-form").hidden = true;
  $("#edit-duplicate").hidden = true;
  $("#replace-form").hidden = true;
  $("#p-edit").hidden = false;
  pendingEdit = null;
  $("#adjust-form").hidden = !p.loyalty || !POINTS_LIMIT;
  $("#adjust-limit").textContent = !p.loyalty ? "" : POINTS_LIMIT
    ? tn("You may add or take up to %(n)s point at a time.",
      "You may add or take up to %(n)s points at a time.", POINTS_LIMIT, {n: points(POINTS_LIMIT)})
    : t("Your role may not adjust points.");
}

// --- Contact details --------------------------------------------------------------------

let storesLoaded = null;
function loadStores() {
  storesLoaded = storesLoaded || api("GET", "/api/v1/stores").then(({stores}) => {
    $("#edit-form").home_store_code.append(...stores.map((s) => new Option(`${s.code} ${s.name}`, s.code)));
  });
  return storesLoaded;
}

$("#p-edit").addEventListener("click", async () => {
  const f = $("#edit-form");
  try { await loadStores(); } catch (e) { say(e.message); }
  f.name.value = shown.name;
  f.phone.value = shown.phone ?? "";
  f.email.value = shown.email ?? "";
  f.birthday.value = shown.birthday ?? "";
  f.home_store_code.value = shown.home_store_code ?? "";
  f.hidden = false;
  $("#p-edit").hidden = true;
  f.name.focus();
});

$("#edit-cancel").addEventListener("click", () => showCustomer(shown.id).catch((e) => say(e.message)));

// Only what was changed goes to central; an emptied field is cleared.
function editedFields(f) {
  const now = {name: f.name.value.trim(), phone: f.phone.value.trim() || null,
    email: f.email.value.trim() || null, birthday: f.birthday.value || null,
    home_store_code: f.home_store_code.value || null};
  return Object.fromEntries(Object.entries(now).filter(([k, v]) => v !== (shown[k] ?? null)));
}

async function saveEdit(body) {
  try {
    await api("PATCH", `/api/v1/customers/${shown.id}`, body);
  } catch (e) {
    if (e.code !== "likely_duplicate") throw e;
    await warnDuplicate(e.details.customer_id, body);
    return;
  }
  say(t("Saved."));
  await showCustomer(shown.id);
}

// The record the change makes this one look like: open it, or save anyway (both are kept).
async function warnDuplicate(otherId, body) {
  const other = await api("GET", `/api/v1/customers/${otherId}`);
  const same = [body.phone && other.phone && t("phone %(phone)s", {phone: other.phone}),
    body.email && other.email && t("e-mail %(email)s", {email: other.email})].filter(Boolean);
  $("#edit-duplicate-text").textContent = same.length
    ? t("This looks like %(name)s, whom kassa has already (%(same)s).", {name: other.name, same: same.join(", ")})
    : t("This looks like %(name)s, whom kassa has already.", {name: other.name});
  $("#edit-duplicate-open").onclick = () => showCustomer(other.id).catch((e) => say(e.message));
  pendingEdit = body;
  $("#edit-duplicate").hidden = false;
  $("#edit-force").focus();
}

$("#edit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const body = editedFields(ev.target);
  $("#edit-duplicate").hidden = true;
  if (!Object.keys(body).length) {
    say(t("Nothing changed."));
    return;
  }
  saveEdit(body).catch((e) => say(e.message));
});

$("#edit-force").addEventListener("click", () => {
  if (!pendingEdit) return;
  saveEdit({...pendingEdit, force: true}).catch((e) => say(e.message));
});

// --- Cards ----------------------------------------------------------------------------------

function actionButton(label, onclick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.onclick = () => onclick().catch((e) => say(e.message));
  return b;
}

function cardActions(p, c) {
  if (!CARD_STAFF) return [];
  const made = [];
  if (c.status === "active" || c.status === "issued") {
    const reason = document.createElement("select");
    reason.setAttribute("aria-label", t("Why block it"));
    for (const r of ["lost", "stolen", "damaged", "fraud"]) reason.append(new Option(BLOCK_REASONS[r], r));
    made.push(reason, actionButton(t("Block"), async () => {
      await api("POST", `/api/v1/cards/${c.card_number}/block`, {reason: reason.value});
      say(t("Card %(card)s blocked: tills refuse it from their next sync.", {card: c.card_number}));
      await showCustomer(p.id);
    }, "danger"));
  } else if (c.status === "blocked" && !FINAL_BLOCKS.includes(c.block_reason)) {
    made.push(actionButton(t("Unblock"), async () => {
      await api("POST", `/api/v1/cards/${c.card_number}/unblock`);
      say(t("Card %(card)s works again from the tills' next sync.", {card: c.card_number}));
      await showCustomer(p.id);
    }));
  }
  if (c.status !== "replaced" && !FINAL_BLOCKS.includes(c.block_reason)) {
    made.push(actionButton(t("Replace"), async () => {
      const f = $("#replace-form");
      f.card.value = c.card_number;
      f.hidden = false;
      f.stock_card.focus();
    }));
  }
  return made;
}

$("#replace-cancel").addEventListener("click", () => { $("#replace-form").hidden = true; });
$("#replace-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const stock = f.stock_card.value.replace(/[\s-]/g, "");
  try {
    const card = await api("POST", `/api/v1/cards/${f.card.value}/replace`, {stock_card: stock || null});
    say(t("Card %(old)s replaced by %(card)s, with all its points.", {old: f.card.value, card: card.card_number}));
    f.reset();
    await showCustomer(shown.id);
  } catch (e) { say(e.message); }
});

// --- Points ---------------------------------------------------------------------------------

$("#adjust-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const typed = f.points.value.replace(/[\s\u00a0]/g, "").replace("\u2212", "-");
  if (!/^[+-]?\d+$/.test(typed) || Number(typed) === 0) {
    say(t("Type a whole number of points: 100 to add, -100 to take."));
    return;
  }
  try {
    const done = await api("POST", `/api/v1/customers/${shown.id}/points-adjustments`,
      {points: Number(typed), reason: f.reason.value.trim()});
    say(t("%(points)s points; the balance is %(balance)s.", {points: signed(done.points),
      balance: points(done.balance)}));
    f.reset();
    await showCustomer(shown.id);
  } catch (e) { say(e.message); }
});
