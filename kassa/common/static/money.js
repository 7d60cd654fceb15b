// Amounts as people type them, in either language: "5000", "5 000", "5000,5", "5,000.50" and
// "5.000,50" all mean what they look like; what could mean two things ("5.000" - five, or
// five thousand?) is refused with both readings shown rather than guessed. Every amount field
// is an <input data-money>: it starts empty with the locale's 0.00 as placeholder, and the
// amount it will send is shown beside it as it is typed. Needs i18n.js (t, amount, I18N).
"use strict";

const MAX_WHOLE_DIGITS = 10;

// {minor} for an amount, {empty: true} for nothing typed, {error} with a message otherwise.
function parseAmount(text) {
  const s = String(text ?? "").replace(/[\u00a0\u202f\u2009]/g, " ").trim();
  if (!s) return {empty: true};
  if (/^[-\u2212]/.test(s)) return {error: t("An amount here cannot be negative.")};
  if (!/^[\d .,]+$/.test(s)) return {error: notAmount(s)};
  const lastDot = s.lastIndexOf("."), lastComma = s.lastIndexOf(",");
  let decimalMark = null, groupMark = null;
  if (lastDot >= 0 && lastComma >= 0) {
    // Both marks: the last one is the decimal point, the other groups thousands.
    [decimalMark, groupMark] = lastDot > lastComma ? [".", ","] : [",", "."];
  } else if (lastDot >= 0 || lastComma >= 0) {
    const mark = lastDot >= 0 ? "." : ",";
    const at = s.lastIndexOf(mark);
    const after = s.slice(at + 1);
    const before = s.slice(0, at).replace(/ /g, "");
    if (s.indexOf(mark) !== at) groupMark = mark;  // "1.000.000": only thousands
    else if (/^\d{1,2}$/.test(after)) decimalMark = mark;
    else if (/^\d{3}$/.test(after) && /^[1-9]\d{0,2}$/.test(before) && !/ /.test(s)) {
      // "5,000": thousands where a comma groups them (English), a riddle where it does not.
      if (mark === I18N.group) groupMark = mark;
      else return {error: ambiguous(s, before, after)};
    } else if (/^\d{3,}$/.test(after)) return {error: t("An amount has at most two decimals.")};
    else return {error: notAmount(s)};
  }
  const [wholeText, fraction = ""] = decimalMark ? splitLast(s, decimalMark) : [s, ""];
  if (/[ .,]/.test(fraction) || fraction.length > 2) return {error: notAmount(s)};
  const whole = ungroup(wholeText.trim(), groupMark);
  if (whole === null) return {error: t("Thousands go in groups of three, e.g. %(example)s.", {example: amount(500050)})};
  if (!whole && !fraction) return {error: notAmount(s)};
  if (whole.replace(/^0+/, "").length > MAX_WHOLE_DIGITS) return {error: t("That amount is too large.")};
  return {minor: Number(whole || "0") * 100 + Number(fraction.padEnd(2, "0"))};
}

function splitLast(s, mark) {
  const at = s.lastIndexOf(mark);
  return [s.slice(0, at), s.slice(at + 1)];
}

// "5 000" or "5,000" (with groupMark ",") -> "5000"; null when the groups are not threes.
function ungroup(text, groupMark) {
  if (!/[ .,]/.test(text)) return text;
  const marks = new Set(text.replace(/\d/g, ""));
  if (marks.size !== 1 || (!marks.has(" ") && !marks.has(groupMark))) return null;
  const groups = text.split([...marks][0]);
  const wellGrouped = /^[1-9]\d{0,2}$/.test(groups[0]) && groups.slice(1).every((g) => /^\d{3}$/.test(g));
  return wellGrouped ? groups.join("") : null;
}

function notAmount(s) {
  return t("“%(text)s” is not an amount: type digits, e.g. %(example)s.", {text: s, example: amount(500050)});
}

function ambiguous(s, before, after) {
  const thousands = Number(before + after) * 100, small = Number(before) * 100 + Number(after.slice(0, 2));
  return t("“%(text)s” could be %(one)s or %(other)s: type %(plain)s or %(fraction)s.", {
    text: s, one: amount(thousands), other: amount(small), plain: before + after,
    fraction: before + I18N.decimal + after.slice(0, 2)});
}

// The amount in a money field, in minor units; `empty` when nothing is typed (default: null).
// Throws an Error with the message shown to the person when the text is not an amount.
function moneyValue(input, empty = null) {
  const parsed = parseAmount(input.value);
  if (parsed.error) throw new Error(parsed.error);
  return parsed.empty ? empty : parsed.minor;
}

// Turn every <input data-money> under root into a money field: placeholder in the locale's
// form (or data-placeholder-minor's amount), and a live line saying what it will send.
function bindMoneyInputs(root = document) {
  root.querySelectorAll("input[data-money]").forEach((input) => {
    if (input.dataset.moneyBound) return;
    input.dataset.moneyBound = "1";
    input.setAttribute("inputmode", "decimal");
    input.setAttribute("autocomplete", "off");
    if (!input.placeholder) {
      const minor = input.dataset.placeholderMinor;
      input.placeholder = amount(minor ? Number(minor) : 0);
    }
    const shown = document.createElement("output");
    shown.className = "money-shown";
    shown.setAttribute("aria-live", "polite");
    if (input.id) shown.htmlFor = input.id;
    input.after(shown);
    const update = () => {
      const parsed = parseAmount(input.value);
      shown.classList.toggle("bad", Boolean(parsed.error));
      shown.textContent = parsed.empty ? "" : parsed.error || "= " + amount(parsed.minor);
      input.toggleAttribute("aria-invalid", Boolean(parsed.error));
    };
    input.addEventListener("input", update);
    update();
  });
}
