/** A layered (Sugiyama-style) DAG layout: longest-path layering, dummy nodes on long edges,
 * barycentric ordering sweeps and a pull-to-neighbours x assignment. Every sweep is O(V + E)
 * (plus a sort per layer), so 10,000-node graphs lay out in well under a second. Pure function:
 * it runs in a Web Worker, or on the main thread where workers are not allowed. */

export interface LayoutInput {
  widths: Float64Array;
  heights: Float64Array;
  /** Flat pairs (src, dst) of node indices. */
  edges: Int32Array;
  /** Per node, the innermost expanded group (cluster) it is drawn in, or -1; nodes of one cluster
   * are kept next to each other in every layer. */
  cluster?: Int32Array;
  /** Per cluster, its enclosing cluster or -1. */
  clusterParent?: Int32Array;
  sweeps?: number;
}

export interface LayoutOutput {
  x: Float64Array;
  y: Float64Array;
  /** Per edge, the start offset into `points` (pairs x, y); edge e spans pointStart[e]..pointStart[e+1]. */
  pointStart: Int32Array;
  points: Float64Array;
  width: number;
  height: number;
  millis: number;
}

const NODE_GAP = 24;
const DUMMY_WIDTH = 8;
const LAYER_GAP = 36;

interface Csr {
  start: Int32Array;
  list: Int32Array;
}

function csr(count: number, from: Int32Array, to: Int32Array, m: number): Csr {
  const start = new Int32Array(count + 1);
  for (let e = 0; e < m; e++) start[from[e] + 1]++;
  for (let i = 0; i < count; i++) start[i + 1] += start[i];
  const fill = start.slice(0, count);
  const list = new Int32Array(m);
  for (let e = 0; e < m; e++) list[fill[from[e]]++] = to[e];
  return { start, list };
}

/** A topological order of the graph minus its back edges: iterative DFS from the sources (then
 * from any unvisited node, in input order), reverse post-order. Cycles (a torch module called
 * several times, collapsed groups feeding each other) keep their dataflow direction mostly intact. */
function topoOrder(n: number, src: Int32Array, dst: Int32Array, m: number): Int32Array {
  const out = csr(n, src, dst, m);
  const indeg = new Int32Array(n);
  for (let e = 0; e < m; e++) indeg[dst[e]]++;
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 done
  const post = new Int32Array(n);
  let count = 0;
  const stack = new Int32Array(n), edgePos = new Int32Array(n);
  const visit = (root: number) => {
    let top = 0;
    stack[0] = root; edgePos[0] = out.start[root]; state[root] = 1;
    while (top >= 0) {
      const v = stack[top];
      if (edgePos[top] < out.start[v + 1]) {
        const w = out.list[edgePos[top]++];
        if (state[w] === 0) { state[w] = 1; stack[++top] = w; edgePos[top] = out.start[w]; }
      } else {
        state[v] = 2; post[count++] = v; top--;
      }
    }
  };
  for (let i = 0; i < n; i++) if (indeg[i] === 0 && state[i] === 0) visit(i);
  for (let i = 0; i < n; i++) if (state[i] === 0) visit(i);
  return post.reverse();
}

export function layered(input: LayoutInput): LayoutOutput {
  const t0 = performance.now();
  const n = input.widths.length;
  const m0 = input.edges.length >> 1;
  const src = new Int32Array(m0), dst = new Int32Array(m0);
  let m = 0;
  for (let e = 0; e < m0; e++) {
    const a = input.edges[2 * e], b = input.edges[2 * e + 1];
    if (a === b) continue;
    src[m] = a; dst[m] = b; m++;
  }
  const order = topoOrder(n, src, dst, m);
  const rank = new Int32Array(n);
  for (let i = 0; i < n; i++) rank[order[i]] = i;
  // Edges against the topological order (cycles between collapsed groups) are laid out reversed.
  const reversed = new Uint8Array(m);
  for (let e = 0; e < m; e++) {
    if (rank[src[e]] > rank[dst[e]]) { reversed[e] = 1; const t = src[e]; src[e] = dst[e]; dst[e] = t; }
  }
  const layer = new Int32Array(n);
  const inn = csr(n, dst, src, m);
  for (let i = 0; i < n; i++) {
    const v = order[i];
    let l = 0;
    for (let k = inn.start[v]; k < inn.start[v + 1]; k++) l = Math.max(l, layer[inn.list[k]] + 1);
    layer[v] = l;
  }
  // Dummy nodes so that every (split) edge joins adjacent layers.
  let dummies = 0;
  for (let e = 0; e < m; e++) dummies += Math.max(0, layer[dst[e]] - layer[src[e]] - 1);
  const total = n + dummies;
  const L = new Int32Array(total);
  L.set(layer);
  const width = new Float64Array(total).fill(DUMMY_WIDTH);
  width.set(input.widths);
  const segCount = m + dummies;
  const sSrc = new Int32Array(segCount), sDst = new Int32Array(segCount);
  const chainStart = new Int32Array(m + 1); // dummies of edge e: chainStart[e]..chainStart[e+1]
  let next = n, s = 0;
  for (let e = 0; e < m; e++) {
    chainStart[e] = next;
    let prev = src[e];
    for (let l = layer[src[e]] + 1; l < layer[dst[e]]; l++) {
      L[next] = l; sSrc[s] = prev; sDst[s] = next; s++; prev = next++;
    }
    sSrc[s] = prev; sDst[s] = dst[e]; s++;
  }
  chainStart[m] = next;
  const preds = csr(total, sDst, sSrc, segCount);
  const succs = csr(total, sSrc, sDst, segCount);
  const layers = buildLayers(total, L, order, chainStart, n, m, src);
  const paths = clusterPaths(input, total, chainStart, m, src, dst);
  const pos = new Float64Array(total);
  layers.forEach((ids) => ids.forEach((v, i) => { pos[v] = i; }));
  const sweeps = input.sweeps ?? 4;
  for (let it = 0; it < sweeps; it++) {
    const down = it % 2 === 0;
    const from = down ? 1 : layers.length - 2, to = down ? layers.length : -1, step = down ? 1 : -1;
    for (let li = from; li !== to; li += step) sortByBarycentre(layers[li], down ? preds : succs, pos, paths);
  }
  if (paths) layers.forEach((ids) => sortByBarycentre(ids, { start: new Int32Array(total + 1), list: new Int32Array(0) }, pos, paths));
  const x = assignX(layers, width, preds, succs);
  const y = new Float64Array(total);
  let top = 0;
  for (const ids of layers) {
    let h = 0;
    for (const v of ids) if (v < n) h = Math.max(h, input.heights[v]);
    for (const v of ids) y[v] = top + h / 2;
    top += Math.max(h, 1) + LAYER_GAP;
  }
  const result = edgePoints(input, m0, x, y, chainStart, reversed);
  let minX = Infinity, maxX = -Infinity;
  for (let v = 0; v < total; v++) {
    minX = Math.min(minX, x[v] - width[v] / 2);
    maxX = Math.max(maxX, x[v] + width[v] / 2);
  }
  if (total === 0) { minX = 0; maxX = 0; }
  for (let v = 0; v < n; v++) x[v] -= minX;
  for (let i = 0; i < result.points.length; i += 2) result.points[i] -= minX;
  return {
    x: x.slice(0, n), y: y.slice(0, n), pointStart: result.pointStart, points: result.points,
    width: maxX - minX, height: Math.max(0, top - LAYER_GAP), millis: performance.now() - t0,
  };
}

function buildLayers(total: number, L: Int32Array, order: Int32Array, chainStart: Int32Array,
                     n: number, m: number, src: Int32Array): Int32Array[] {
  let depth = 0;
  for (let v = 0; v < total; v++) depth = Math.max(depth, L[v] + 1);
  const counts = new Int32Array(depth);
  for (let v = 0; v < total; v++) counts[L[v]]++;
  const layers = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(depth);
  // Initial order: nodes by topological rank, each edge's dummies right after their source.
  const dummiesOf: number[][] = [];
  for (let e = 0; e < m; e++) {
    if (chainStart[e + 1] > chainStart[e]) (dummiesOf[src[e]] ??= []).push(e);
  }
  for (let i = 0; i < n; i++) {
    const v = order[i];
    layers[L[v]][fill[L[v]]++] = v;
    for (const e of dummiesOf[v] ?? []) {
      for (let d = chainStart[e]; d < chainStart[e + 1]; d++) layers[L[d]][fill[L[d]]++] = d;
    }
  }
  return layers;
}

/** Per node (dummies included), its cluster path from the outermost cluster; a dummy takes the
 * clusters its edge's two ends share. Null when there are no clusters. */
function clusterPaths(input: LayoutInput, total: number, chainStart: Int32Array, m: number,
                      src: Int32Array, dst: Int32Array): number[][] | null {
  const cluster = input.cluster, parent = input.clusterParent;
  if (!cluster || !parent || !cluster.some((c) => c >= 0)) return null;
  const memo = new Map<number, number[]>();
  const pathOf = (c: number): number[] => {
    if (c < 0) return [];
    let p = memo.get(c);
    if (!p) { p = [...pathOf(parent[c]), c]; memo.set(c, p); }
    return p;
  };
  const paths: number[][] = new Array(total);
  for (let v = 0; v < cluster.length; v++) paths[v] = pathOf(cluster[v]);
  for (let e = 0; e < m; e++) {
    const a = paths[src[e]], b = paths[dst[e]];
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    for (let d = chainStart[e]; d < chainStart[e + 1]; d++) paths[d] = a.slice(0, k);
  }
  return paths;
}

/** Orders a layer by the barycentre of each node's neighbours in the adjacent layer. With clusters,
 * units (a node, or a whole cluster by its mean barycentre) are sorted level by level, so a
 * cluster's nodes stay contiguous. */
function sortByBarycentre(ids: Int32Array, adj: Csr, pos: Float64Array, paths: number[][] | null): void {
  if (ids.length < 2) return; // most layers of a chain: nothing to order
  const key = new Map<number, number>();
  for (const v of ids) {
    let sum = 0, count = 0;
    for (let k = adj.start[v]; k < adj.start[v + 1]; k++) { sum += pos[adj.list[k]]; count++; }
    key.set(v, count ? sum / count : pos[v]);
  }
  const sorted = paths ? sortUnits(Array.from(ids), 0, key, paths) : Array.from(ids).sort((a, b) => key.get(a)! - key.get(b)! || pos[a] - pos[b]);
  for (let i = 0; i < ids.length; i++) { ids[i] = sorted[i]; pos[sorted[i]] = i; }
}

function sortUnits(nodes: number[], depth: number, key: Map<number, number>, paths: number[][]): number[] {
  if (nodes.length < 2) return nodes;
  const units: { key: number; first: number; nodes: number[]; cluster: boolean }[] = [];
  const byCluster = new Map<number, { key: number; first: number; nodes: number[]; cluster: boolean }>();
  for (const v of nodes) {
    const c = paths[v].length > depth ? paths[v][depth] : -1;
    if (c < 0) { units.push({ key: key.get(v)!, first: v, nodes: [v], cluster: false }); continue; }
    let unit = byCluster.get(c);
    if (!unit) { unit = { key: 0, first: v, nodes: [], cluster: true }; byCluster.set(c, unit); units.push(unit); }
    unit.nodes.push(v);
  }
  for (const unit of byCluster.values()) {
    unit.key = unit.nodes.reduce((s, v) => s + key.get(v)!, 0) / unit.nodes.length;
  }
  units.sort((a, b) => a.key - b.key);
  return units.flatMap((u) => (u.cluster ? sortUnits(u.nodes, depth + 1, key, paths) : u.nodes));
}

/** Places nodes at the mean of their neighbours, then resolves overlaps by averaging a
 * left-to-right and a right-to-left push (the mean of two feasible placements is feasible). */
function assignX(layers: Int32Array[], width: Float64Array, preds: Csr, succs: Csr): Float64Array {
  const x = new Float64Array(width.length);
  for (const ids of layers) {
    let cur = 0;
    for (const v of ids) { x[v] = cur + width[v] / 2; cur += width[v] + NODE_GAP; }
    const shift = cur / 2;
    for (const v of ids) x[v] -= shift;
  }
  const passes: [number, Csr][] = [[1, preds], [-1, succs], [1, preds], [-1, succs], [1, preds]];
  for (const [dir, adj] of passes) {
    const from = dir > 0 ? 1 : layers.length - 2, to = dir > 0 ? layers.length : -1;
    for (let li = from; li !== to; li += dir) place(layers[li], adj, x, width);
  }
  return x;
}

function place(ids: Int32Array, adj: Csr, x: Float64Array, width: Float64Array): void {
  const k = ids.length;
  if (!k) return;
  const want = new Float64Array(k), left = new Float64Array(k), right = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const v = ids[i];
    let sum = 0, count = 0;
    for (let j = adj.start[v]; j < adj.start[v + 1]; j++) { sum += x[adj.list[j]]; count++; }
    want[i] = count ? sum / count : x[v];
  }
  for (let i = 0; i < k; i++) {
    const gap = i ? (width[ids[i - 1]] + width[ids[i]]) / 2 + NODE_GAP : 0;
    left[i] = i ? Math.max(want[i], left[i - 1] + gap) : want[i];
  }
  for (let i = k - 1; i >= 0; i--) {
    const gap = i < k - 1 ? (width[ids[i + 1]] + width[ids[i]]) / 2 + NODE_GAP : 0;
    right[i] = i < k - 1 ? Math.min(want[i], right[i + 1] - gap) : want[i];
  }
  for (let i = 0; i < k; i++) x[ids[i]] = (left[i] + right[i]) / 2;
}

function edgePoints(input: LayoutInput, m0: number, x: Float64Array, y: Float64Array,
                    chainStart: Int32Array, reversed: Uint8Array):
    { pointStart: Int32Array; points: Float64Array } {
  const pts: number[] = [];
  const pointStart = new Int32Array(m0 + 1);
  let e = 0; // index among kept (non-self-loop) edges
  for (let i = 0; i < m0; i++) {
    pointStart[i] = pts.length >> 1;
    const a = input.edges[2 * i], b = input.edges[2 * i + 1];
    if (a === b) continue;
    const seq: number[] = [];
    const top = reversed[e] ? b : a, bottom = reversed[e] ? a : b;
    seq.push(x[top], y[top] + input.heights[top] / 2);
    for (let d = chainStart[e]; d < chainStart[e + 1]; d++) seq.push(x[d], y[d]);
    seq.push(x[bottom], y[bottom] - input.heights[bottom] / 2);
    if (reversed[e]) {
      for (let j = seq.length - 2; j >= 0; j -= 2) pts.push(seq[j], seq[j + 1]);
    } else pts.push(...seq);
    e++;
  }
  pointStart[m0] = pts.length >> 1;
  return { pointStart, points: Float64Array.from(pts) };
}
