/** CSV / PNG export for any chart: a pair of small buttons that download what the chart shows.
 * Downloads go through an <a download> with a data: or blob: URL, so nothing leaves the page. */

import { neutralizeCell } from "../util/text";

export type Cell = string | number | null;

/** RFC 4180 CSV: fields with a comma, quote or newline are quoted; missing values are empty. Text
 * cells (headers included) are neutralised against formula injection; numbers stay numbers. */
export function toCsv(header: string[], rows: Cell[][]): string {
  const field = (v: Cell): string => {
    if (v === null || (typeof v === "number" && !Number.isFinite(v) && !Number.isNaN(v))) {
      return v === null ? "" : String(v);
    }
    const s = typeof v === "number" ? String(v) : neutralizeCell(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(",")).join("\n") + "\n";
}

export function download(filename: string, url: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

export function downloadText(filename: string, text: string, mime = "text/csv"): void {
  const url = URL.createObjectURL(new Blob([text], { type: mime }));
  download(filename, url);
  // Revoked later: some browsers start the download asynchronously after click().
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file-name-safe version of a tag or run ("train/loss" -> "train_loss"). */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "chart";
}

export interface ExportSource {
  name: () => string;
  csv: () => string;
  png: () => string; // a data: URL
}

/** "CSV" and "PNG" buttons; the element's last export is kept in data-last-export for checks. */
export function exportButtons(source: ExportSource): HTMLSpanElement {
  const box = document.createElement("span");
  box.className = "cv-export";
  const make = (label: string, run: () => void) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = `cv-export-${label.toLowerCase()}`;
    b.title = `Download this chart as ${label}`;
    b.onclick = run;
    box.appendChild(b);
  };
  make("CSV", () => {
    const text = source.csv();
    box.dataset.lastExport = `csv:${text.length}`;
    downloadText(`${safeName(source.name())}.csv`, text);
  });
  make("PNG", () => {
    const url = source.png();
    box.dataset.lastExport = `png:${url.length}`;
    download(`${safeName(source.name())}.png`, url);
  });
  return box;
}
