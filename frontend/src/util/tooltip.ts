/** ECharts axis tooltips built from escaped text only: series names come from files and devices,
 * so ECharts' own HTML is not trusted with them. */
import { escapeHtml, formatPrecise } from "./text";

export interface AxisItem { seriesId?: string; seriesName?: string; color?: unknown; value?: unknown; data?: unknown }

/** The y value of an axis-tooltip item whose data is `[x, y]` (or a bare y). */
export function itemValue(item: AxisItem): number {
  const v = Array.isArray(item.value) ? item.value[1] : item.value;
  return v === null || v === undefined ? NaN : Number(v);
}

/** A header line, then one line per item: swatch, escaped name, value to 5 significant digits. */
export function axisTooltip(head: string, items: AxisItem[], unit = ""): string {
  const lines = items.map((i) => {
    const v = itemValue(i);
    const shown = Number.isFinite(v) ? `${formatPrecise(v)}${unit ? ` ${unit}` : ""}` : "–";
    return `<div class="cv-tip-row"><span class="cv-swatch" style="background:${escapeHtml(i.color)}"></span>`
      + `${escapeHtml(i.seriesName)} <b>${escapeHtml(shown)}</b></div>`;
  });
  return `<div class="cv-tip-head">${escapeHtml(head)}</div>${lines.join("")}`;
}

/** Training charts: one line per run (series ids `raw:<run>` / `smooth:<run>`), the smoothed value
 * with the raw one beside it, so a run is listed once. */
export function runsTooltip(head: string, items: AxisItem[], color: (run: string) => string): string {
  const lines = items.filter((i) => String(i.seriesId).startsWith("raw:")).map((raw) => {
    const run = String(raw.seriesId).slice(4);
    const smooth = items.find((i) => i.seriesId === `smooth:${run}`);
    const shown = smooth ? `${formatPrecise(itemValue(smooth))} (raw ${formatPrecise(itemValue(raw))})`
      : formatPrecise(itemValue(raw));
    return `<div class="cv-tip-row"><span class="cv-swatch" style="background:${escapeHtml(color(run))}"></span>`
      + `${escapeHtml(run)} <b>${escapeHtml(shown)}</b></div>`;
  });
  return `<div class="cv-tip-head">${escapeHtml(head)}</div>${lines.join("")}`;
}
