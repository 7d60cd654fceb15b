// The page's language for its scripts: t() and tn() translate with the catalog the server put
// into <script id="i18n" type="application/json"> (kassa/common/i18n.py); amount() and
// money() write numbers the locale's way. Message ids are English, with %(name)s for values
// and %% for a percent sign, as in the templates.
"use strict";

const I18N = (() => {
  const node = document.getElementById("i18n");
  const data = node ? JSON.parse(node.textContent) : {};
  return {locale: "en", decimal: ".", group: ",", money: "%(amount)s", plural: ["one", "other"],
    messages: {}, ...data};
})();
const PLURAL_RULES = new Intl.PluralRules(I18N.locale);

function fill(text, params) {
  return text.replace(/%(?:\((\w+)\)s|%)/g, (whole, name) => {
    if (!name) return "%";
    return params && name in params ? String(params[name]) : whole;
  });
}

function t(msgid, params) {
  const text = I18N.messages[msgid];
  return fill(typeof text === "string" && text ? text : msgid, params);
}

// tn("%(n)s point", "%(n)s points", n): n is also given to the text as %(n)s.
function tn(singular, plural, n, params) {
  const forms = I18N.messages[singular];
  const all = {n, ...params};
  if (Array.isArray(forms) && forms.every(Boolean)) {
    const index = I18N.plural.indexOf(PLURAL_RULES.select(n));
    return fill(forms[index < 0 ? forms.length - 1 : index], all);
  }
  return fill(n === 1 ? singular : plural, all);
}

// 123450 -> "1,234.50" (en) or "1 234,50" (ru): an amount in minor units, without currency.
function amount(minor) {
  const abs = Math.abs(minor);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, I18N.group);
  return (minor < 0 ? "-" : "") + whole + I18N.decimal + String(abs % 100).padStart(2, "0");
}

// The same with the store's currency: "RUB 1,234.50" (en) or "1 234,50 ₽" (ru).
function money(minor) {
  const text = fill(I18N.money, {amount: amount(Math.abs(minor))});
  return minor < 0 ? "-" + text : text;
}

// A day ("2026-11-27") is that day wherever the browser is; a moment is shown in its zone.
function formatDate(iso) {
  if (!iso) return "";
  const day = /^\d{4}-\d{2}-\d{2}$/.test(iso);
  return new Intl.DateTimeFormat(I18N.locale, {dateStyle: "medium", ...(day ? {timeZone: "UTC"} : {})})
    .format(new Date(iso));
}

function formatDateTime(iso) {
  if (!iso) return "";
  // The month by name (or a four-digit year in Russian): "12/7/26" is read two ways.
  return new Intl.DateTimeFormat(I18N.locale, {dateStyle: "medium", timeStyle: "short"})
    .format(new Date(iso));
}
