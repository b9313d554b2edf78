/** The graph as the view needs it: hierarchy, which nodes are visible given the expanded groups,
 * and the edges between visible nodes (leaf edges lifted to their collapsed ancestors). */

export interface GraphNode {
  id: string;
  name: string;
  type: string;
  kind: string;
  parent: string | null;
  output_shape?: unknown;
  params?: number;
  [key: string]: unknown;
}

export interface GraphDict {
  name?: string;
  framework?: string;
  nodes: GraphNode[];
  edges: [string, string][];
}

export interface VisibleGraph {
  nodes: number[]; // indices into model.nodes
  edges: Int32Array; // pairs of positions in `nodes`
  groups: number[]; // expanded groups with at least one visible descendant
}

export class GraphModel {
  readonly nodes: GraphNode[];
  readonly index = new Map<string, number>();
  readonly parent: Int32Array;
  readonly children: number[][];
  readonly depth: Int32Array;
  private readonly src: Int32Array;
  private readonly dst: Int32Array;

  constructor(readonly dict: GraphDict) {
    this.nodes = dict.nodes;
    this.nodes.forEach((n, i) => this.index.set(n.id, i));
    const count = this.nodes.length;
    this.parent = new Int32Array(count).fill(-1);
    this.children = Array.from({ length: count }, () => []);
    this.nodes.forEach((n, i) => {
      const p = n.parent == null ? undefined : this.index.get(n.parent);
      if (p !== undefined && p !== i) { this.parent[i] = p; this.children[p].push(i); }
    });
    this.depth = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      let d = 0;
      for (let p = this.parent[i]; p >= 0 && d < count; p = this.parent[p]) d++;
      this.depth[i] = d;
    }
    const pairs = dict.edges.map(([a, b]) => [this.index.get(a), this.index.get(b)])
      .filter((p): p is [number, number] => p[0] !== undefined && p[1] !== undefined);
    this.src = Int32Array.from(pairs, (p) => p[0]);
    this.dst = Int32Array.from(pairs, (p) => p[1]);
  }

  isGroup(i: number): boolean {
    return this.children[i].length > 0;
  }

  roots(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.nodes.length; i++) if (this.parent[i] < 0) out.push(i);
    return out;
  }

  allGroups(): number[] {
    return this.nodes.map((_, i) => i).filter((i) => this.isGroup(i));
  }

  /** Ancestors of node i, nearest first. */
  ancestors(i: number): number[] {
    const out: number[] = [];
    for (let p = this.parent[i]; p >= 0 && out.length < this.nodes.length; p = this.parent[p]) out.push(p);
    return out;
  }

  /** Visible nodes: each node whose ancestors are all expanded and that is not itself expanded. */
  visible(expanded: Set<number>): VisibleGraph {
    const count = this.nodes.length;
    const rep = new Int32Array(count).fill(-1);
    const order = this.topDown();
    const nodes: number[] = [];
    const groups: number[] = [];
    for (const i of order) {
      const p = this.parent[i];
      if (p >= 0 && rep[p] !== -2) { rep[i] = rep[p]; continue; } // inside a collapsed group
      // Parent is expanded (or none): i is shown, unless it is an expanded group.
      if (this.isGroup(i) && expanded.has(i)) { rep[i] = -2; groups.push(i); } else { rep[i] = i; nodes.push(i); }
    }
    const slot = new Int32Array(count).fill(-1);
    nodes.forEach((v, k) => { slot[v] = k; });
    const seen = new Set<number>();
    const edges: number[] = [];
    for (let e = 0; e < this.src.length; e++) {
      const a = rep[this.src[e]], b = rep[this.dst[e]];
      if (a < 0 || b < 0 || a === b) continue;
      const sa = slot[a], sb = slot[b];
      const key = sa * count + sb;
      if (seen.has(key)) continue;
      seen.add(key);
      edges.push(sa, sb);
    }
    return { nodes, edges: Int32Array.from(edges), groups };
  }

  /** Parents before children. */
  private topDown(): number[] {
    return this.nodes.map((_, i) => i).sort((a, b) => this.depth[a] - this.depth[b] || a - b);
  }

  /** Ids matching a query (name, id or type, case-insensitive). */
  search(query: string): number[] {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const out: number[] = [];
    this.nodes.forEach((n, i) => {
      if (n.id.toLowerCase().includes(q) || n.name.toLowerCase().includes(q) || n.type.toLowerCase().includes(q)) out.push(i);
    });
    return out;
  }

  /** Whether a node has a 4-D output (activations and CAM make sense there). */
  isSpatial(i: number): boolean {
    const shape = this.nodes[i].output_shape;
    return Array.isArray(shape) && shape.length === 4 && shape.every((d) => typeof d === "number" || d === null);
  }
}

export function formatShape(shape: unknown): string {
  if (shape == null) return "?";
  if (Array.isArray(shape) && shape.some(Array.isArray)) return shape.map(formatShape).join(", ");
  if (Array.isArray(shape)) return `(${shape.map((d) => (d == null ? "?" : String(d))).join(", ")})`;
  return String(shape);
}

export function formatCount(n: number | undefined): string {
  if (!n) return "0";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** Which graph nodes a CAM or activations request may name: the server's list where it sent one,
 * else by kind (modules and layers; any ONNX node but its name-path groups), always 4-D outputs. */
export class LayerIndex {
  private readonly names: Set<string> | null;

  constructor(private readonly model: GraphModel, private readonly framework = "", layers?: string[] | null) {
    this.names = layers ? new Set(layers) : null;
  }

  addressable(i: number): boolean {
    const n = this.model.nodes[i];
    if (n.kind === "input" || n.kind === "output" || !this.model.isSpatial(i)) return false;
    if (this.names) return this.names.has(n.id);
    return this.framework === "onnx" ? n.kind !== "group" : n.kind !== "op";
  }

  /** The layer a click on node ``id`` means: the node itself, else its nearest addressable module
   * (an fx op inside ``features.4`` means ``features.4``); null where none has a 4-D output. */
  layerFor(id: string): string | null {
    const i = this.model.index.get(id);
    if (i === undefined) return null;
    for (const j of [i, ...this.model.ancestors(i)]) if (this.addressable(j)) return this.model.nodes[j].id;
    return null;
  }

  /** Every addressable layer, in the order data reaches it (its first leaf's place in the graph). */
  all(): string[] {
    const model = this.model;
    const first = new Int32Array(model.nodes.length).fill(model.nodes.length);
    for (let i = model.nodes.length - 1; i >= 0; i--) {
      if (model.isGroup(i)) continue;
      first[i] = i;
      for (const a of model.ancestors(i)) first[a] = Math.min(first[a], i);
    }
    const out: number[] = [];
    for (let i = 0; i < model.nodes.length; i++) if (this.addressable(i)) out.push(i);
    out.sort((a, b) => first[a] - first[b] || model.depth[a] - model.depth[b]);
    return out.map((i) => model.nodes[i].id);
  }
}
