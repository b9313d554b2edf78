/** SVG path strings for many edges or boxes at once: one element instead of thousands. */

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const r = (v: number) => Math.round(v * 10) / 10;

/** Each edge is a polyline through its dummy points, smoothed with vertical cubic segments. */
export function edgePath(edges: Float64Array[]): string {
  const parts: string[] = [];
  for (const p of edges) {
    let d = `M${r(p[0])},${r(p[1])}`;
    for (let j = 2; j < p.length; j += 2) {
      const mid = (p[j - 1] + p[j + 1]) / 2;
      d += `C${r(p[j - 2])},${r(mid)} ${r(p[j])},${r(mid)} ${r(p[j])},${r(p[j + 1])}`;
    }
    parts.push(d);
  }
  return parts.join("");
}

export function boxesPath(boxes: Box[]): string {
  const parts: string[] = [];
  for (const b of boxes) parts.push(`M${r(b.x - b.w / 2)},${r(b.y - b.h / 2)}h${r(b.w)}v${r(b.h)}h${r(-b.w)}z`);
  return parts.join("");
}
