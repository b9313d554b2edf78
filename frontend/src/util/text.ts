/** Text that came from outside the page — a file, a model, a device, a request — goes into the DOM
 * only as text. Where a library insists on an HTML string (ECharts tooltip formatters), every such
 * string passes through `escapeHtml` first; tests/test_frontend_safety.py enforces it. Numbers are
 * formatted here too, the same way in every chart. */

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` safe inside HTML element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** OWASP's rule against CSV formula injection: a cell starting with = + - @ TAB or CR is prefixed
 * with a single quote, so a spreadsheet shows it as text. Numbers are left as numbers. */
export function neutralizeCell(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

const SI = [
  { at: 1e12, suffix: "T" }, { at: 1e9, suffix: "G" }, { at: 1e6, suffix: "M" }, { at: 1e3, suffix: "k" },
];

/** An axis label by magnitude: SI suffixes for large values, scientific notation for tiny ones,
 * never a value cut to its trailing digits ("4.5e-7", not "0000045"). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return "0";
  for (const { at, suffix } of SI) if (a >= at) return `${trim((v / at).toPrecision(3))}${suffix}`;
  if (a < 1e-3) return v.toExponential(1);
  return trim(v.toPrecision(3));
}

/** A tooltip value: `digits` significant digits (4-5 reads well), scientific when tiny or huge. */
export function formatPrecise(v: number, digits = 5): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(digits - 1);
  return trim(v.toPrecision(digits));
}

function trim(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}
