/** Targets beyond a class index in the Explain view: a detector's boxes and a segmentation model's
 * classes, as the explain reply lists them. They fill the target picker ("box:i" / "class:c"
 * values, sent as {box: i} / {class: c}) and are drawn over the map: every box thin, the picked one
 * thick with its label; the picked class as the outline of the pixels predicted as it. */
import { NdArray } from "../util/npy";

export interface Detected { box: number[]; label: number; name: string; score: number }
export interface ClassShare { index: number; name: string; share: number }
export type Picked = { box: number } | { class: number } | null;

export interface Structured {
  output_kind?: "classes" | "detection" | "segmentation";
  target?: unknown;
  detections?: Detected[][];
  segmentation?: ClassShare[][];
}

const PICKED = "#00e5ff";

export function isStructured(r: Structured | undefined): boolean {
  return r?.output_kind === "detection" || r?.output_kind === "segmentation";
}

/** The picker's value for a picked box or class ("" = the model's default). */
export function pickedValue(p: Picked): string {
  if (!p) return "";
  return "box" in p ? `box:${p.box}` : `class:${p.class}`;
}

export function parsePicked(value: string): Picked {
  const [kind, n] = value.split(":");
  if (kind === "box") return { box: Number(n) };
  if (kind === "class") return { class: Number(n) };
  return null;
}

/** The options for input `i`: its boxes (label, score) or the classes it shows (share of pixels). */
export function targetOptions(r: Structured, i: number, picked: Picked): HTMLOptionElement[] {
  const shown = pickedValue(picked ?? (r.target as Picked));
  const label = r.output_kind === "detection" ? "best box" : "largest class";
  const out = [new Option(label, "", false, picked === null)];
  if (r.output_kind === "detection") {
    (r.detections?.[i] ?? []).forEach((d, k) => out.push(new Option(
      `box ${k} · ${d.name} · ${d.score.toFixed(3)}`, `box:${k}`, false, picked !== null && shown === `box:${k}`)));
  } else {
    for (const c of r.segmentation?.[i] ?? []) {
      out.push(new Option(`${c.name} (${c.index}) · ${(100 * c.share).toFixed(1)}% of pixels`, `class:${c.index}`,
        false, picked !== null && shown === `class:${c.index}`));
    }
  }
  return out;
}

/** A line under the map saying what the map explains. */
export function targetSummary(r: Structured, i: number): string {
  const t = r.target as Picked;
  if (!t) return "";
  if ("box" in t) {
    const d = r.detections?.[i]?.[t.box];
    return d ? `Explaining box ${t.box}: ${d.name} (score ${d.score.toFixed(3)})` : `Box ${t.box}: not detected in this input`;
  }
  const c = r.segmentation?.[i]?.find((s) => s.index === t.class);
  return `Explaining class ${c?.name ?? t.class} over the pixels predicted as it`;
}

/** Draws input `i`'s boxes or class outline on the map canvas (already painted, input resolution). */
export function drawStructure(canvas: HTMLCanvasElement, r: Structured, i: number, labels: NdArray | undefined,
                              showBoxes: boolean): void {
  const ctx = canvas.getContext("2d")!;
  const t = r.target as Picked;
  if (r.output_kind === "detection" && showBoxes) {
    const picked = t && "box" in t ? t.box : -1;
    (r.detections?.[i] ?? []).forEach((d, k) => drawBox(ctx, d, k === picked));
  } else if (r.output_kind === "segmentation" && labels && t && "class" in t
             && labels.shape[1] === canvas.height && labels.shape[2] === canvas.width) {
    drawOutline(ctx, labels, i, t.class);
  }
}

function drawBox(ctx: CanvasRenderingContext2D, d: Detected, picked: boolean): void {
  const [x1, y1, x2, y2] = d.box;
  ctx.strokeStyle = picked ? PICKED : "rgba(255,255,255,0.45)";
  ctx.lineWidth = picked ? 2 : 1;
  ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  if (!picked) return;
  ctx.fillStyle = PICKED;
  ctx.font = "10px sans-serif";
  ctx.fillText(`${d.name} ${d.score.toFixed(2)}`, x1 + 2, Math.max(10, y1 - 2));
}

/** The border of the class's pixels (a filled mask would hide the map under it). */
function drawOutline(ctx: CanvasRenderingContext2D, labels: NdArray, i: number, cls: number): void {
  const [, h, w] = labels.shape;
  const data = labels.data as ArrayLike<number>;
  const base = i * h * w;
  const at = (y: number, x: number) => y >= 0 && x >= 0 && y < h && x < w && data[base + y * w + x] === cls;
  const image = ctx.getImageData(0, 0, w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!at(y, x) || (at(y - 1, x) && at(y + 1, x) && at(y, x - 1) && at(y, x + 1))) continue;
      const p = 4 * (y * w + x);
      image.data[p] = 0; image.data[p + 1] = 229; image.data[p + 2] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}
