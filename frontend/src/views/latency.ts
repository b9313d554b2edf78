/** Latency colouring of graph nodes: engine graphs carry `latency_pct` (share of the engine's summed
 * layer times); ONNX graphs painted with an engine carry `latency_share_ms` (the layer's time split
 * among the nodes it fused), turned here into a share of their sum so both read as percentages. */
import { GraphNode } from "./graph-model";

export interface LatencyShares {
  /** Percent of the total per node, NaN where the node has no timing. */
  pct: Float64Array;
  max: number;
  /** What the colour means, for the legend. */
  label: string;
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : NaN;
}

/** Shares per node, or null when the graph has no latency data at all. */
export function latencyShares(nodes: GraphNode[]): LatencyShares | null {
  // A painted ONNX graph gives every node of a fused layer that layer's latency_pct; its
  // latency_share_ms splits the layer's time among them, so the colours add up honestly.
  const share = Float64Array.from(nodes, (n) => num(n.latency_share_ms));
  const total = share.reduce((s, v) => (Number.isNaN(v) ? s : s + v), 0);
  let pct: Float64Array;
  let label: string;
  if (total > 0) {
    pct = share.map((v) => (Number.isNaN(v) ? NaN : (100 * v) / total));
    label = "share of the engine latency mapped onto this node (latency_share_ms)";
  } else {
    pct = Float64Array.from(nodes, (n) => num(n.latency_pct));
    label = "share of the engine's summed layer latency (latency_pct)";
    if (!pct.some((v) => !Number.isNaN(v))) return null;
  }
  const max = pct.reduce((m, v) => (Number.isNaN(v) ? m : Math.max(m, v)), 0);
  return { pct, max: max || 1, label };
}

/** Pale yellow (fast) to red (slow), light enough that the node labels stay readable. */
export function latencyColor(pct: number, max: number): string {
  const t = Math.sqrt(Math.min(1, Math.max(0, pct / max))); // sqrt: small shares still visibly differ
  return `hsl(${Math.round(55 - 55 * t)}, 90%, ${Math.round(88 - 30 * t)}%)`;
}

/** A legend: gradient bar from 0 to the largest share, with what the colour means. */
export function latencyLegend(shares: LatencyShares): HTMLDivElement {
  const el = document.createElement("div");
  el.className = "cv-latency-legend";
  const stops = [0, 0.25, 0.5, 0.75, 1].map((f) => latencyColor(f * shares.max, shares.max)).join(", ");
  el.innerHTML = `<span class="cv-legend-title"></span> <span>0%</span>
    <span class="cv-legend-bar" style="background: linear-gradient(to right, ${stops})"></span>
    <span class="cv-legend-max"></span> <span class="cv-legend-none">grey: no timing</span>`;
  el.querySelector(".cv-legend-title")!.textContent = `Colour: ${shares.label}`;
  el.querySelector(".cv-legend-max")!.textContent = `${shares.max.toFixed(1)}%`;
  return el;
}
