/** Graph view: hierarchical, groups collapsed by default (click to expand), zoom/pan, search,
 * shapes and parameter counts on hover. Layout runs in a worker; drawing is culled to the
 * viewport and switches to one path of boxes when zoomed out, so 10,000-node graphs stay fluid. */
import { select, Selection } from "d3-selection";
import { zoom, ZoomBehavior, zoomIdentity, ZoomTransform } from "d3-zoom";
import { layout } from "../layout/client";
import { formatCount, formatShape, GraphDict, GraphModel } from "./graph-model";
import { edgePath, boxesPath, Box } from "./graph-paths";
import { CHAR_W, ExportedSvg, MAX_NODE_W, download, elide, renderProperties, svgOf, svgToPng } from "./graph-extras";
import { latencyColor, latencyLegend, LatencyShares, latencyShares } from "./latency";

export interface GraphViewOptions {
  onSelect?: (id: string) => void;
  /** Expand every group on load (benchmarks, small models). */
  expandAll?: boolean;
}

const NODE_H = 30;
const DOM_NODE_LIMIT = 1500;
const DETAIL_SCALE = 0.35;

type Svg = Selection<SVGSVGElement, unknown, null, undefined>;
type G = Selection<SVGGElement, unknown, null, undefined>;

export class GraphView {
  readonly el: HTMLDivElement;
  model: GraphModel | null = null;
  private expanded = new Set<number>();
  private boxes = new Map<number, Box>();
  private groupBoxes: { node: number; box: Box }[] = [];
  private edgeList: { pts: Float64Array; minX: number; maxX: number; minY: number; maxY: number }[] = [];
  private shown: number[] = [];
  private selected: string | null = null;
  private matches = new Set<number>();
  private searchCursor = 0;
  private transform: ZoomTransform = zoomIdentity;
  private frame = 0;
  private readonly svg: Svg;
  private readonly root: G;
  private readonly zoomer: ZoomBehavior<SVGSVGElement, unknown>;
  private readonly tooltip: HTMLDivElement;
  private readonly info: HTMLSpanElement;
  private layoutToken = 0;
  /** Per-node latency shares where the graph carries timings (engine graphs), else null. */
  latency: LatencyShares | null = null;

  constructor(private readonly options: GraphViewOptions = {}) {
    this.el = document.createElement("div");
    this.el.className = "cv-graph";
    this.el.innerHTML = `<div class="cv-toolbar">
      <input class="cv-search" type="search" placeholder="Search layers (Enter: next)" aria-label="Search layers">
      <button class="cv-expand-all" type="button">Expand all</button>
      <button class="cv-collapse-all" type="button">Collapse all</button>
      <button class="cv-fit" type="button">Fit</button>
      <button class="cv-export-svg" type="button" title="Save the graph as shown (expanded groups included) as SVG">SVG</button>
      <button class="cv-export-png" type="button" title="Save the graph as shown as PNG">PNG</button>
      <span class="cv-info"></span></div>
      <div class="cv-canvas"><svg class="cv-svg"><g class="cv-root"><g class="cv-groups"></g>
      <path class="cv-edges"></path><path class="cv-overview"></path><g class="cv-nodes"></g></g></svg>
      <div class="cv-tooltip" hidden></div></div><div class="cv-node-props" hidden></div>`;
    this.svg = select(this.el.querySelector("svg") as SVGSVGElement);
    this.root = select(this.el.querySelector(".cv-root") as SVGGElement);
    this.tooltip = this.el.querySelector(".cv-tooltip") as HTMLDivElement;
    this.info = this.el.querySelector(".cv-info") as HTMLSpanElement;
    this.zoomer = zoom<SVGSVGElement, unknown>().scaleExtent([0.002, 4]).on("zoom", (event) => {
      this.transform = event.transform;
      this.root.attr("transform", event.transform.toString());
      this.scheduleDraw();
    });
    this.svg.call(this.zoomer).on("dblclick.zoom", null);
    this.svg.on("click", (event: MouseEvent) => this.onBackgroundClick(event));
    this.bindToolbar();
  }

  async setGraph(dict: GraphDict): Promise<void> {
    this.model = new GraphModel(dict);
    this.setLatency(latencyShares(this.model.nodes));
    this.expanded = new Set(this.options.expandAll ? this.model.allGroups() : []);
    await this.relayout(true);
  }

  select(id: string | null): void {
    this.selected = id;
    this.scheduleDraw();
  }

  async expand(id: string, open = true): Promise<void> {
    const i = this.model?.index.get(id);
    if (i === undefined) return;
    if (open) this.expanded.add(i); else this.expanded.delete(i);
    await this.relayout(false);
  }

  async setExpandAll(all: boolean): Promise<void> {
    if (!this.model) return;
    this.expanded = new Set(all ? this.model.allGroups() : []);
    await this.relayout(true);
  }

  private setLatency(shares: LatencyShares | null): void {
    this.latency = shares;
    this.el.querySelector(".cv-latency-legend")?.remove();
    if (shares) this.el.querySelector(".cv-toolbar")!.after(latencyLegend(shares));
    if (shares) this.el.dataset.latency = "true"; else delete this.el.dataset.latency;
  }

  private nodeFill(i: number): string | null {
    const pct = this.latency?.pct[i];
    return pct === undefined || Number.isNaN(pct) ? null : latencyColor(pct, this.latency!.max);
  }

  private bindToolbar(): void {
    const q = <T extends Element>(s: string) => this.el.querySelector(s) as T;
    const search = q<HTMLInputElement>(".cv-search");
    search.addEventListener("input", () => this.setQuery(search.value));
    search.addEventListener("keydown", (e) => { if (e.key === "Enter") void this.revealNextMatch(); });
    q<HTMLButtonElement>(".cv-expand-all").onclick = () => void this.setExpandAll(true);
    q<HTMLButtonElement>(".cv-collapse-all").onclick = () => void this.setExpandAll(false);
    q<HTMLButtonElement>(".cv-fit").onclick = () => this.fit(true);
    q<HTMLButtonElement>(".cv-export-svg").onclick = () => {
      const { markup } = this.exportSvg();
      download(new Blob([markup], { type: "image/svg+xml" }), `${this.fileStem()}.svg`);
    };
    q<HTMLButtonElement>(".cv-export-png").onclick = async () => {
      const { markup, width, height } = this.exportSvg();
      download(await svgToPng(markup, width, height), `${this.fileStem()}.png`);
    };
  }

  private setQuery(query: string): void {
    this.matches = new Set(this.model?.search(query) ?? []);
    this.searchCursor = 0;
    this.scheduleDraw();
  }

  /** Expands the ancestors of the next match and centres on it. */
  private async revealNextMatch(): Promise<void> {
    const model = this.model;
    if (!model || !this.matches.size) return;
    const list = [...this.matches];
    const target = list[this.searchCursor++ % list.length];
    for (const a of model.ancestors(target)) this.expanded.add(a);
    this.expanded.delete(target);
    await this.relayout(false);
    const box = this.boxes.get(target);
    if (box) this.centerOn(box.x, box.y, Math.max(this.transform.k, 0.8));
  }

  private async relayout(fit: boolean): Promise<void> {
    const model = this.model;
    if (!model) return;
    const token = ++this.layoutToken;
    const vis = model.visible(this.expanded);
    const widths = new Float64Array(vis.nodes.length);
    const heights = new Float64Array(vis.nodes.length).fill(NODE_H);
    vis.nodes.forEach((i, k) => { widths[k] = Math.min(MAX_NODE_W, Math.max(84, CHAR_W * this.label(i).length + 22)); });
    const slot = new Map(vis.groups.map((g, k) => [g, k]));
    const cluster = Int32Array.from(vis.nodes, (i) => slot.get(model.parent[i]) ?? -1);
    const clusterParent = Int32Array.from(vis.groups, (g) => slot.get(model.parent[g]) ?? -1);
    const out = await layout({ widths, heights, edges: vis.edges, cluster, clusterParent });
    if (token !== this.layoutToken) return; // a newer layout superseded this one
    this.boxes.clear();
    vis.nodes.forEach((i, k) => this.boxes.set(i, { x: out.x[k], y: out.y[k], w: widths[k], h: heights[k] }));
    this.shown = vis.nodes;
    this.edgeList = [];
    for (let e = 0; e + 1 < out.pointStart.length; e++) {
      const pts = out.points.slice(2 * out.pointStart[e], 2 * out.pointStart[e + 1]);
      if (pts.length < 4) continue;
      let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
      for (let j = 0; j < pts.length; j += 2) {
        minX = Math.min(minX, pts[j]); maxX = Math.max(maxX, pts[j]);
        minY = Math.min(minY, pts[j + 1]); maxY = Math.max(maxY, pts[j + 1]);
      }
      this.edgeList.push({ pts, minX, maxX, minY, maxY });
    }
    this.groupBoxes = this.computeGroupBoxes(vis.groups);
    this.info.textContent = `${vis.nodes.length} shown · ${model.nodes.length} nodes · layout ${out.millis.toFixed(0)} ms`;
    if (fit) this.fit();
    this.draw();
    this.el.dataset.state = "ready";
    this.el.dataset.shown = String(vis.nodes.length);
    this.el.dispatchEvent(new CustomEvent("cnnvis:graph-ready", { bubbles: true, detail: { shown: vis.nodes.length } }));
  }

  /** Frames around expanded groups, innermost first: each encloses its shown nodes and the frames
   * of its expanded subgroups, with room for its title. */
  private computeGroupBoxes(groups: number[]): { node: number; box: Box }[] {
    const model = this.model!;
    type Bounds = [number, number, number, number];
    const bounds = new Map<number, Bounds>();
    const grow = (g: number, b: Bounds) => {
      const cur = bounds.get(g) ?? [Infinity, Infinity, -Infinity, -Infinity];
      bounds.set(g, [Math.min(cur[0], b[0]), Math.min(cur[1], b[1]), Math.max(cur[2], b[2]), Math.max(cur[3], b[3])]);
    };
    for (const i of this.shown) {
      const b = this.boxes.get(i)!;
      if (model.parent[i] >= 0) grow(model.parent[i], [b.x - b.w / 2, b.y - b.h / 2, b.x + b.w / 2, b.y + b.h / 2]);
    }
    const pad = 6, title = 14;
    const out: { node: number; box: Box }[] = [];
    for (const g of [...groups].sort((a, b) => model.depth[b] - model.depth[a])) {
      const b = bounds.get(g);
      if (!b) continue;
      const padded: Bounds = [b[0] - pad, b[1] - pad - title, b[2] + pad, b[3] + pad];
      out.push({ node: g, box: { x: (padded[0] + padded[2]) / 2, y: (padded[1] + padded[3]) / 2,
        w: padded[2] - padded[0], h: padded[3] - padded[1] } });
      if (model.parent[g] >= 0) grow(model.parent[g], padded);
    }
    return out.reverse(); // outermost drawn first, underneath
  }

  private label(i: number): string {
    const n = this.model!.nodes[i];
    return this.model!.isGroup(i) ? `▸ ${n.name} · ${n.type}` : `${n.name} · ${n.type}`;
  }

  /** The label that fits node i's box at the current zoom: the full "name · type" when zoomed in,
   * the name alone further out, elided in the middle to the box (the full name is on hover). */
  private shortLabel(i: number): string {
    const box = this.boxes.get(i);
    const chars = Math.max(3, Math.floor(((box?.w ?? MAX_NODE_W) - 14) / CHAR_W));
    const n = this.model!.nodes[i];
    const full = this.label(i);
    if (this.transform.k >= 0.7 || full.length <= chars) return elide(full, chars);
    return elide(this.model!.isGroup(i) ? `▸ ${n.name}` : n.name, chars);
  }

  /** Fits small graphs; large ones open fitted to the panel's width at their inputs, unless
   * `overview` asks for everything. */
  fit(overview = false): void {
    const rect = this.svg.node()!.getBoundingClientRect();
    const width = rect.width || 800, height = rect.height || 500;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const b of this.boxes.values()) {
      minX = Math.min(minX, b.x - b.w / 2); maxX = Math.max(maxX, b.x + b.w / 2);
      minY = Math.min(minY, b.y - b.h / 2); maxY = Math.max(maxY, b.y + b.h / 2);
    }
    if (!isFinite(minX)) return;
    const k = Math.min(1.5, 0.95 * Math.min(width / (maxX - minX + 40), height / (maxY - minY + 40)));
    if (k >= DETAIL_SCALE || overview) { // the whole graph, still labelled
      const s = Math.max(k, 0.002);
      this.svg.call(this.zoomer.transform, zoomIdentity
        .translate(width / 2 - s * (minX + maxX) / 2, height / 2 - s * (minY + maxY) / 2).scale(s));
      return;
    }
    // Large graphs open as wide as the panel (readable, node boxes capped in width), at their inputs.
    const s = Math.max(0.6, Math.min(1, 0.95 * width / (maxX - minX + 40)));
    // Wider than the panel even so: centre on the model's inputs, not on a row of constants.
    let cx = (minX + maxX) / 2, top = minY;
    if (s * (maxX - minX) > width) {
      const inputs = [...this.boxes].filter(([i]) => this.model!.nodes[i].kind === "input").map(([, b]) => b);
      if (inputs.length) {
        cx = inputs.reduce((sum, b) => sum + b.x, 0) / inputs.length;
        top = Math.min(...inputs.map((b) => b.y - b.h / 2));
      }
    }
    const t = zoomIdentity.translate(width / 2 - s * cx, 20 - s * top).scale(s);
    this.svg.call(this.zoomer.transform, t);
  }

  private centerOn(x: number, y: number, k: number): void {
    const rect = this.svg.node()!.getBoundingClientRect();
    this.svg.call(this.zoomer.transform, zoomIdentity.translate(rect.width / 2 - k * x, rect.height / 2 - k * y).scale(k));
  }

  private scheduleDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  /** The graph-space rectangle on screen, with a margin so small pans need no redraw. */
  private viewRect(): [number, number, number, number] {
    const rect = this.svg.node()!.getBoundingClientRect();
    const t = this.transform, m = 200 / t.k;
    return [(0 - t.x) / t.k - m, (0 - t.y) / t.k - m, (rect.width - t.x) / t.k + m, (rect.height - t.y) / t.k + m];
  }

  private draw(): void {
    if (!this.model) return;
    const [x0, y0, x1, y1] = this.viewRect();
    const inView = this.shown.filter((i) => {
      const b = this.boxes.get(i)!;
      return b.x + b.w / 2 >= x0 && b.x - b.w / 2 <= x1 && b.y + b.h / 2 >= y0 && b.y - b.h / 2 <= y1;
    });
    const edges = this.edgeList.filter((e) => e.maxX >= x0 && e.minX <= x1 && e.maxY >= y0 && e.minY <= y1);
    this.root.select(".cv-edges").attr("d", edgePath(edges.map((e) => e.pts)));
    const detail = this.transform.k >= DETAIL_SCALE && inView.length <= DOM_NODE_LIMIT;
    this.root.select(".cv-overview").attr("d", detail ? "" : boxesPath(inView.map((i) => this.boxes.get(i)!)));
    this.drawNodes(detail ? inView : []);
    this.drawGroups();
  }

  private drawNodes(ids: number[]): void {
    const model = this.model!;
    const sel = this.root.select<SVGGElement>(".cv-nodes").selectAll<SVGGElement, number>("g.node")
      .data(ids, (i) => model.nodes[i].id);
    sel.exit().remove();
    const enter = sel.enter().append("g")
      .attr("data-id", (i) => model.nodes[i].id)
      .attr("data-kind", (i) => (model.isGroup(i) ? "group" : model.nodes[i].kind))
      .on("click", (event: MouseEvent, i) => { event.stopPropagation(); void this.activate(i); })
      .on("mouseenter", (event: MouseEvent, i) => this.showTooltip(event, i))
      .on("mouseleave", () => { this.tooltip.hidden = true; });
    enter.append("rect").attr("rx", 5);
    enter.append("text").attr("dy", "0.35em").attr("text-anchor", "middle");
    enter.append("title");
    const all = enter.merge(sel);
    all.attr("class", (i) => {
      const kind = model.isGroup(i) ? "group" : model.nodes[i].kind;
      const extra = (model.nodes[i].id === this.selected ? " selected" : "") + (this.isMatch(i) ? " match" : "");
      return `node ${kind}${extra}`;
    }).attr("transform", (i) => { const b = this.boxes.get(i)!; return `translate(${b.x},${b.y})`; });
    all.select("rect").attr("x", (i) => -this.boxes.get(i)!.w / 2).attr("y", -NODE_H / 2)
      .attr("width", (i) => this.boxes.get(i)!.w).attr("height", NODE_H)
      .style("fill", (i) => this.nodeFill(i));
    all.select("text").text((i) => this.shortLabel(i));
    all.select("title").text((i) => `${model.nodes[i].name} · ${model.nodes[i].type}`);
  }

  private isMatch(i: number): boolean {
    if (this.matches.has(i)) return true;
    if (!this.model!.isGroup(i) || !this.matches.size) return false;
    for (const m of this.matches) if (this.model!.ancestors(m).includes(i)) return true;
    return false;
  }

  private drawGroups(): void {
    const model = this.model!;
    const sel = this.root.select<SVGGElement>(".cv-groups").selectAll<SVGGElement, { node: number; box: Box }>("g.cluster")
      .data(this.groupBoxes, (d) => model.nodes[d.node].id);
    sel.exit().remove();
    const enter = sel.enter().append("g").attr("class", "cluster")
      .on("click", (event: MouseEvent, d) => { event.stopPropagation(); this.expanded.delete(d.node); void this.relayout(false); });
    enter.append("rect").attr("rx", 8);
    enter.append("text").attr("class", "cluster-label");
    const all = enter.merge(sel).attr("data-id", (d) => model.nodes[d.node].id);
    all.select("rect").attr("x", (d) => d.box.x - d.box.w / 2).attr("y", (d) => d.box.y - d.box.h / 2)
      .attr("width", (d) => d.box.w).attr("height", (d) => d.box.h);
    all.select("text").attr("x", (d) => d.box.x - d.box.w / 2 + 8).attr("y", (d) => d.box.y - d.box.h / 2 + 14)
      .text((d) => `▾ ${model.nodes[d.node].name} · ${model.nodes[d.node].type}`);
  }

  private async activate(i: number): Promise<void> {
    const model = this.model!;
    renderProperties(this.el.querySelector(".cv-node-props") as HTMLDivElement, model.nodes[i]);
    if (model.isGroup(i)) {
      this.expanded.add(i);
      await this.relayout(false);
      return;
    }
    this.selected = model.nodes[i].id;
    this.scheduleDraw();
    this.options.onSelect?.(model.nodes[i].id);
  }

  /** In overview mode there are no node elements: hit-test the boxes. */
  private onBackgroundClick(event: MouseEvent): void {
    const rect = this.svg.node()!.getBoundingClientRect();
    const [px, py] = this.transform.invert([event.clientX - rect.left, event.clientY - rect.top]);
    for (const i of this.shown) {
      const b = this.boxes.get(i)!;
      if (Math.abs(px - b.x) <= b.w / 2 && Math.abs(py - b.y) <= b.h / 2) { void this.activate(i); return; }
    }
  }

  /** The graph as shown (expanded groups included) as a standalone SVG with the full names. */
  exportSvg(): ExportedSvg {
    const model = this.model;
    if (!model) return { markup: "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", width: 1, height: 1 };
    return svgOf({ boxes: this.boxes, groups: this.groupBoxes, edges: this.edgeList.map((e) => e.pts),
      label: (i) => `${model.nodes[i].name} · ${model.nodes[i].type}`, fill: (i) => this.nodeFill(i),
      title: (g) => `▾ ${model.nodes[g].name} · ${model.nodes[g].type}` });
  }

  private fileStem(): string {
    return (this.model?.dict.name || "graph").replace(/[^\w.-]+/g, "_");
  }

  private showTooltip(event: MouseEvent, i: number): void {
    const n = this.model!.nodes[i];
    const host = this.el.querySelector(".cv-canvas")!.getBoundingClientRect();
    const children = this.model!.children[i].length;
    this.tooltip.innerHTML = "";
    const rows: [string, string][] = [["name", n.name], ["id", n.id], ["type", n.type], ["kind", n.kind],
      ["output", formatShape(n.output_shape)],
      ["params", `${(n.params ?? 0).toLocaleString("en-US")} (${formatCount(n.params)})`]];
    if (children) rows.push(["children", String(children)]);
    for (const key of ["latency_ms", "latency_share_ms", "latency_pct", "precision", "engine_layer"]) {
      const v = n[key];
      if (v !== null && v !== undefined) rows.push([key, typeof v === "number" ? v.toFixed(4) : String(v)]);
    }
    for (const [k, v] of rows) {
      const row = document.createElement("div");
      row.innerHTML = "<b></b> <span></span>";
      row.children[0].textContent = k;
      row.children[1].textContent = v;
      this.tooltip.appendChild(row);
    }
    this.tooltip.style.left = `${event.clientX - host.left + 12}px`;
    this.tooltip.style.top = `${event.clientY - host.top + 12}px`;
    this.tooltip.hidden = false;
  }
}
