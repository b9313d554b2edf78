/** Graph view helpers for large graphs: labels elided to their box (the full name stays on hover
 * and in the properties panel), short labels that stay unique, the node properties panel, and the
 * graph written out as a standalone SVG or PNG. */
import { formatCount, formatShape, GraphNode } from "./graph-model";
import { Box, edgePath } from "./graph-paths";
import { escapeHtml } from "../util/text";

/** Widest node box: long fused TensorRT names are elided inside it rather than widening the graph. */
export const MAX_NODE_W = 220;
export const CHAR_W = 7;

/** ``text`` in at most ``max`` characters, its middle replaced by "…" (names differ at both ends). */
export function elide(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return "…";
  const tail = Math.floor((max - 1) / 2), head = max - 1 - tail;
  return `${text.slice(0, head)}…${text.slice(text.length - tail)}`;
}

/** Labels of at most ``max`` characters that tell apart names sharing a long prefix: the end of
 * each name is kept, growing until the labels differ; identical names get an ordinal. */
export function uniqueLabels(names: string[], max: number): string[] {
  const cut = (n: string, tail: number) => (n.length <= max ? n : `${n.slice(0, Math.max(1, max - 1 - tail))}…${n.slice(n.length - tail)}`);
  const out = names.map((n) => cut(n, 0));
  const groups = new Map<string, number[]>();
  out.forEach((label, i) => groups.set(label, [...(groups.get(label) ?? []), i]));
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    let labels = members.map((i) => out[i]);
    for (let tail = 4; tail <= max - 2; tail += 2) {
      labels = members.map((i) => cut(names[i], tail));
      if (new Set(labels).size === labels.length) break;
    }
    members.forEach((i, k) => { out[i] = labels[k]; });
  }
  const seen = new Map<string, number>();
  return out.map((label) => {
    const count = (seen.get(label) ?? 0) + 1;
    seen.set(label, count);
    return count === 1 ? label : `${label} #${count}`;
  });
}

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.every((x) => typeof x === "number") ? `(${v.join(", ")})` : JSON.stringify(v);
  if (typeof v === "object") return JSON.stringify(v);
  return typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : String(v);
}

interface Tensor { name?: string; shape?: number[]; format?: string | null; precision?: string | null }

/** The properties panel's rows for a node: identity, shape, hyper-parameters, weights, engine facts. */
export function nodeProperties(n: GraphNode): [string, string][] {
  const rows: [string, string][] = [["name", n.name], ["id", n.id], ["type", n.type], ["kind", n.kind],
    ["output", formatShape(n.output_shape)], ["params", `${(n.params ?? 0).toLocaleString("en-US")} (${formatCount(n.params)})`]];
  for (const [key, value] of Object.entries((n.attrs ?? {}) as Record<string, unknown>)) rows.push([key, text(value)]);
  for (const [key, value] of Object.entries((n.weights ?? {}) as Record<string, unknown>)) {
    const w = value as { Type?: string; Count?: number } | number[];
    rows.push([`${key} shape`, Array.isArray(w) ? formatShape(w) : `${w.Count ?? "?"} × ${w.Type ?? "?"}`]);
  }
  for (const key of ["precision", "tactic", "tactic_value", "latency_ms", "median_ms", "latency_pct", "latency_share_ms",
    "engine_layer", "parameter_type", "origin", "name_kind"]) {
    if (n[key] !== null && n[key] !== undefined && n[key] !== "") rows.push([key, text(n[key])]);
  }
  for (const side of ["inputs", "outputs"] as const) {
    const tensors = (n[side] ?? []) as Tensor[];
    tensors.forEach((t, i) => rows.push([`${side.slice(0, -1)} ${i}`,
      `${t.name ?? ""} ${t.shape ? formatShape(t.shape) : ""} ${t.format ?? t.precision ?? ""}`.trim()]));
  }
  const sources = n.source_nodes as string[] | undefined;
  if (sources?.length) rows.push(["source nodes", sources.join(", ")]);
  return rows;
}

/** Fills ``el`` with a table of the node's properties (text only: names come from model files). */
export function renderProperties(el: HTMLElement, n: GraphNode | null): void {
  el.hidden = !n;
  el.replaceChildren();
  if (!n) return;
  const title = document.createElement("div");
  title.className = "cv-node-props-title";
  title.textContent = n.name;
  const table = document.createElement("table");
  for (const [key, value] of nodeProperties(n)) {
    const row = table.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = value;
  }
  el.append(title, table);
}

/** Saves ``blob`` as ``filename`` through the browser's download. */
export function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The SVG rasterised at ``scale`` (capped so the canvas stays within browser limits). */
export async function svgToPng(markup: string, width: number, height: number, scale = 2): Promise<Blob> {
  const s = Math.max(0.05, Math.min(scale, 8192 / Math.max(width, height, 1)));
  const image = new Image();
  const url = URL.createObjectURL(new Blob([markup], { type: "image/svg+xml" }));
  try {
    await new Promise<void>((resolve, reject) => {
      image.onload = () => resolve();
      image.onerror = () => reject(new Error("The graph could not be rasterised."));
      image.src = url;
    });
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * s));
    canvas.height = Math.max(1, Math.round(height * s));
    const ctx = canvas.getContext("2d")!;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("PNG encoding failed."))), "image/png"));
  } finally {
    URL.revokeObjectURL(url);
  }
}

export function xmlEscape(s: string): string {
  return escapeHtml(s);
}

export interface ExportedSvg { markup: string; width: number; height: number }

/** The graph as laid out now (every shown node, not only those on screen) as a standalone SVG. */
export function svgOf(view: { boxes: Map<number, Box>; groups: { node: number; box: Box }[]; edges: Float64Array[];
                      label: (i: number) => string; fill: (i: number) => string | null; title: (g: number) => string }): ExportedSvg {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const grow = (b: Box) => {
    minX = Math.min(minX, b.x - b.w / 2); maxX = Math.max(maxX, b.x + b.w / 2);
    minY = Math.min(minY, b.y - b.h / 2); maxY = Math.max(maxY, b.y + b.h / 2);
  };
  view.boxes.forEach(grow);
  view.groups.forEach((g) => grow(g.box));
  if (!isFinite(minX)) { minX = minY = 0; maxX = maxY = 1; }
  const pad = 10, width = maxX - minX + 2 * pad, height = maxY - minY + 2 * pad;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width.toFixed(0)}" height="${height.toFixed(0)}" `
    + `viewBox="${(minX - pad).toFixed(1)} ${(minY - pad).toFixed(1)} ${width.toFixed(1)} ${height.toFixed(1)}" `
    + `font-family="sans-serif" font-size="12">`, `<rect x="${minX - pad}" y="${minY - pad}" width="${width}" height="${height}" fill="#fff"/>`];
  for (const g of view.groups) {
    const b = g.box;
    parts.push(`<g class="cluster"><rect x="${b.x - b.w / 2}" y="${b.y - b.h / 2}" width="${b.w}" height="${b.h}" rx="8" `
      + `fill="#f4f6fa" stroke="#b8c2d0"/><text x="${b.x - b.w / 2 + 8}" y="${b.y - b.h / 2 + 14}" fill="#555">`
      + `${escapeHtml(view.title(g.node))}</text></g>`);
  }
  parts.push(`<path d="${edgePath(view.edges)}" fill="none" stroke="#8a94a6" stroke-width="1.2"/>`);
  view.boxes.forEach((b, i) => {
    parts.push(`<g class="node"><rect x="${b.x - b.w / 2}" y="${b.y - b.h / 2}" width="${b.w}" height="${b.h}" rx="5" `
      + `fill="${view.fill(i) ?? "#e8eef8"}" stroke="#5b6b82"/><title>${escapeHtml(view.label(i))}</title>`
      + `<text x="${b.x}" y="${b.y}" dy="0.35em" text-anchor="middle" fill="#111">`
      + `${escapeHtml(elide(view.label(i), Math.floor((b.w - 14) / CHAR_W)))}</text></g>`);
  });
  parts.push("</svg>");
  return { markup: parts.join(""), width, height };
}
