/** Compare view: two model files of one network side by side. Both graphs are painted with the
 * error each layer adds (cnnvis.compare's `damage`: yellow to red, a legend and a threshold below
 * which layers stay unpainted); selecting a node in one graph selects its partner in the other,
 * and unaligned nodes are outlined. Below: the layers by rank, the CAM agreement per image, and
 * the search for the fewest layers to keep in float when quantizing model a. */
import { ServerConnection } from "@jupyterlab/services";
import type { PanelServer } from "../panel/sources";
import { Transport } from "../transport/types";
import { GraphView } from "./graph";
import { GraphDict } from "./graph-model";
import { latencyColor } from "./latency";

export interface CompareRow {
  layer: string; layer_b: string; op_type: string; cosine: number; relative_error: number;
  max_abs_error: number; damage: number; rank: number;
  latency_a?: number | null; latency_b?: number | null; // ms per layer, with latency
}

export interface CompareResult {
  names: [string, string];
  alignment: string;
  rows: CompareRow[];
  summary: Record<string, unknown>;
  unaligned: Record<string, string[]>;
  explanations: { method: string; rows: ExplanationRow[] } | null;
}

interface ExplanationRow { image: number; spearman: number | null; ssim: number | null; overlay_a?: number; overlay_b?: number }

interface JobSnapshot { state: string; error: string | null; progress: { fraction: number | null }; result?: any }
interface Opener extends Transport { openModel: PanelServer["openModel"] }

const POLL_MS = 300;
const METHODS = ["", "eigencam", "scorecam", "ablationcam", "gradcam"];

export class CompareModelsView {
  readonly el: HTMLDivElement;
  readonly graphs: [GraphView, GraphView];
  result: CompareResult | null = null;
  private ids: [string, string] | null = null;
  private readonly paint: HTMLStyleElement;
  private lastJob = "";
  private readonly partner: [Map<string, string>, Map<string, string>] = [new Map(), new Map()];
  private readonly openers: [Opener, Opener];
  private readonly engineOpeners: [Opener, Opener];
  private disposed = false;
  private urls: string[] = [];
  private syncing = false;

  constructor(private readonly server: PanelServer) {
    this.el = document.createElement("div");
    this.el.className = "cv-compare-models";
    this.el.dataset.state = "idle";
    this.el.innerHTML = `<style>
      .cv-compare-models .cv-compare-graphs { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 6px; }
      .cv-compare-models .cv-compare-scroll { overflow-x: auto; max-width: 100%; }
      .cv-compare-models .cv-compare-graphs .cv-graph { min-width: 0; }
      .cv-compare-models table { border-collapse: collapse; font-size: 12px; margin: 6px 0; }
      .cv-compare-models td, .cv-compare-models th { padding: 2px 6px; text-align: left; }
      .cv-compare-models tr.cv-picked { outline: 2px solid #1976d2; }
      .cv-compare-models .cv-compare-cams { display: flex; flex-wrap: wrap; gap: 8px; }
      .cv-compare-models .cv-compare-cams figure { margin: 0; font-size: 11px; }
      .cv-compare-models .cv-compare-cams img { width: 72px; height: 72px; image-rendering: pixelated; }
      .cv-compare-models .cv-compare-legend-bar { display: inline-block; width: 120px; height: 10px; vertical-align: middle; }
    </style>
    <form class="cv-toolbar cv-compare-form">
      <input class="cv-compare-path-a" placeholder="model a (.onnx, .pt2)" required>
      <input class="cv-compare-path-b" placeholder="model b (.onnx, .pt2)" required>
      <input class="cv-compare-inputs" placeholder="inputs .npy / .npz">
      <input class="cv-compare-labels" placeholder="labels (comma-separated, optional)">
      <label>CAM <select class="cv-compare-method"></select></label>
      <label title="Per-layer latency: onnxruntime's profile, or the TensorRT engine built from each model">
        <input class="cv-compare-latency" type="checkbox"> latency</label>
      <input class="cv-compare-engine-a" placeholder="TensorRT export of a (optional)">
      <input class="cv-compare-engine-b" placeholder="TensorRT export of b (optional)">
      <button type="submit">Compare</button></form>
    <div class="cv-compare-status" role="status"></div>
    <div class="cv-compare-summary"></div>
    <div class="cv-compare-legend" hidden><span>Colour: error the layer adds (damage) 0</span>
      <span class="cv-compare-legend-bar"></span> <span class="cv-compare-legend-max"></span>
      <label>threshold <input class="cv-compare-threshold" type="range" min="0" max="100" value="0"></label>
      <span class="cv-compare-threshold-value"></span> <span>dashed outline: no partner</span></div>
    <div class="cv-compare-graphs"></div>
    <div class="cv-compare-scroll"><table class="cv-compare-table"></table></div>
    <div class="cv-compare-explanations"></div>
    <div class="cv-toolbar cv-compare-quantize" hidden>
      <label>target retention <input class="cv-compare-target" type="number" min="0.5" max="1" step="0.005" value="0.98"></label>
      <input class="cv-compare-out" placeholder="output .onnx (default: beside model a)">
      <button type="button" class="cv-compare-quantize-run">Fewest float layers (INT8)</button></div>
    <div class="cv-compare-scroll"><table class="cv-compare-candidates"></table></div>`;
    this.paint = document.createElement("style");
    this.el.appendChild(this.paint);
    const method = this.q<HTMLSelectElement>(".cv-compare-method");
    method.replaceChildren(...METHODS.map((m) => new Option(m || "none", m)));
    this.graphs = [0, 1].map((side) => new GraphView({ onSelect: (id) => void this.onSelect(side as 0 | 1, id) })) as
      [GraphView, GraphView];
    this.graphs.forEach((g, side) => g.el.classList.add(side ? "cv-compare-b" : "cv-compare-a"));
    this.q(".cv-compare-graphs").append(this.graphs[0].el, this.graphs[1].el);
    // One opener per side: the panel's server keeps one open model per transport.
    this.openers = [server.withModel("") as Opener, server.withModel("") as Opener];
    this.engineOpeners = [server.withModel("") as Opener, server.withModel("") as Opener];
    this.q<HTMLFormElement>(".cv-compare-form").onsubmit = (e) => { e.preventDefault(); void this.compare(); };
    this.q<HTMLInputElement>(".cv-compare-threshold").oninput = () => this.repaint();
    this.q<HTMLButtonElement>(".cv-compare-quantize-run").onclick = () => void this.quantize();
  }

  private q<T extends Element>(selector: string): T {
    return this.el.querySelector(selector) as T;
  }

  /** Opens both files, compares them in a server job, and draws the result. */
  async compare(): Promise<void> {
    const [a, b] = [".cv-compare-path-a", ".cv-compare-path-b"].map((s) => this.q<HTMLInputElement>(s).value.trim());
    const inputs = this.q<HTMLInputElement>(".cv-compare-inputs").value.trim() || undefined;
    const labels = this.labels();
    if (!a || !b || labels === undefined) return;
    this.el.dataset.state = "running";
    try {
      this.status(`Opening ${a} and ${b}…`);
      const opened = await Promise.all([this.openers[0].openModel(a, inputs, 64), this.openers[1].openModel(b, inputs, 64)]);
      this.ids = [opened[0].id, opened[1].id];
      const graphs = Promise.all(this.ids.map((id) => this.server.withModel(id).request<GraphDict>("graph")));
      const args: Record<string, unknown> = { a: this.ids[0], b: this.ids[1], names: ["a", "b"] };
      if (labels) args.labels = labels;
      const method = this.q<HTMLSelectElement>(".cv-compare-method").value;
      if (method) args.method = method;
      const latency = await this.latency();
      if (latency) args.latency = latency;
      const result = await this.job<CompareResult>("compare_models", args, "Comparing");
      const [ga, gb] = await graphs;
      if (this.disposed) return;
      await Promise.all([this.graphs[0].setGraph(ga.result), this.graphs[1].setGraph(gb.result)]);
      this.show(result);
      this.el.dataset.state = "ready";
      this.status("");
    } catch (err) {
      this.el.dataset.state = "error";
      this.status((err as Error).message, true);
    }
  }

  /** ``true``, ``{a: id, b: id}`` of the TensorRT exports opened for either side, or null. */
  private async latency(): Promise<true | Record<string, string> | null> {
    const paths = [".cv-compare-engine-a", ".cv-compare-engine-b"].map((s) => this.q<HTMLInputElement>(s).value.trim());
    const engines: Record<string, string> = {};
    for (const [side, path] of paths.entries()) {
      if (path) engines[side ? "b" : "a"] = (await this.engineOpeners[side].openModel(path)).id;
    }
    if (Object.keys(engines).length) return engines;
    return this.q<HTMLInputElement>(".cv-compare-latency").checked ? true : null;
  }

  /** The labels typed in: undefined (and a message) when they are not integers. */
  private labels(): number[] | null | undefined {
    const text = this.q<HTMLInputElement>(".cv-compare-labels").value.trim();
    if (!text) return null;
    const values = text.split(/[\s,]+/).filter(Boolean).map(Number);
    if (values.some((v) => !Number.isInteger(v))) {
      this.status("Labels must be whole numbers separated by commas.", true);
      return undefined;
    }
    return values;
  }

  /** Starts a job through its REST route and waits for it, showing its progress. */
  private async job<R>(kind: string, args: Record<string, unknown>, what: string): Promise<R> {
    const started = (await this.server.request<{ id: string }>(kind, args)).result;
    this.lastJob = started.id;
    for (;;) {
      const job = (await this.server.request<JobSnapshot>("job", { job: started.id })).result;
      if (job.state === "done") return job.result as R;
      if (job.state === "failed" || job.state === "cancelled") throw new Error(job.error ?? `${what} ${job.state}.`);
      const fraction = job.progress.fraction;
      this.status(`${what}…${fraction === null ? "" : ` ${Math.round(100 * fraction)}%`}`);
      await new Promise((resolve) => window.setTimeout(resolve, POLL_MS));
      if (this.disposed) throw new Error("Closed.");
    }
  }

  show(result: CompareResult): void {
    this.result = result;
    this.partner[0].clear();
    this.partner[1].clear();
    for (const row of result.rows) {
      this.partner[0].set(row.layer, row.layer_b);
      this.partner[1].set(row.layer_b, row.layer);
    }
    const s = result.summary;
    const pct = (v: unknown) => (typeof v === "number" ? `${(100 * v).toFixed(1)}%` : "–");
    const summary = this.q<HTMLDivElement>(".cv-compare-summary");
    summary.textContent = `${result.rows.length} layers aligned by ${result.alignment}; top-1 agreement `
      + `${pct(s.top1_agreement)}` + ("retention" in s ? `; retention ${pct(s.retention)} `
      + `(${s.retention_ok ? "meets" : "below"} the 98% rule)` : "")
      + (s.latency_source ? `; latency: ${Object.entries(s.latency_source as Record<string, string>)
        .map(([name, source]) => `${name} from ${source}`).join(", ")}` : "");
    const max = Math.max(1e-12, ...result.rows.map((r) => r.damage));
    this.q<HTMLElement>(".cv-compare-legend-bar").style.background = `linear-gradient(to right, ${
      [0, 0.25, 0.5, 0.75, 1].map((f) => latencyColor(f * max, max)).join(", ")})`;
    this.q(".cv-compare-legend-max").textContent = max.toPrecision(3);
    this.q<HTMLElement>(".cv-compare-legend").hidden = false;
    this.renderTable(result.rows);
    this.renderExplanations(result);
    this.q<HTMLElement>(".cv-compare-quantize").hidden = false;
    this.repaint();
  }

  /** The colour of each aligned node, as rules on this view's own style sheet: the graphs redraw
   * their nodes while panning, and the rules apply to whatever is drawn. */
  repaint(): void {
    if (!this.result) return;
    const rows = this.result.rows;
    const max = Math.max(1e-12, ...rows.map((r) => r.damage));
    const threshold = (Number(this.q<HTMLInputElement>(".cv-compare-threshold").value) / 100) * max;
    this.q(".cv-compare-threshold-value").textContent = threshold.toPrecision(3);
    const rules: string[] = [];
    const node = (side: string, id: string) => `.cv-compare-models .cv-compare-${side} g.node[data-id="${CSS.escape(id)}"] rect`;
    for (const row of rows) {
      if (row.damage < threshold || row.damage <= 0) continue;
      const fill = latencyColor(row.damage, max);
      rules.push(`${node("a", row.layer)}, ${node("b", row.layer_b)} { fill: ${fill} !important; }`);
    }
    const [nameA, nameB] = this.result.names;
    for (const [side, name] of [["a", nameA], ["b", nameB]]) {
      for (const id of this.result.unaligned[name] ?? []) {
        rules.push(`${node(side, id)} { stroke-dasharray: 4 3; stroke-width: 2px; }`);
      }
    }
    this.paint.textContent = rules.join("\n");
    this.el.dataset.painted = String(rules.length);
  }

  private renderTable(rows: CompareRow[]): void {
    const table = this.q<HTMLTableElement>(".cv-compare-table");
    const head = document.createElement("tr");
    const timed = rows.some((r) => r.latency_a !== undefined);
    const ms = (v: number | null | undefined) => (typeof v === "number" ? v.toFixed(4) : "–");
    for (const h of ["rank", "layer (a)", "layer (b)", "op", "damage", "cosine", "relative error", "max abs error",
      ...(timed ? ["ms (a)", "ms (b)"] : [])]) {
      head.appendChild(Object.assign(document.createElement("th"), { textContent: h }));
    }
    const body = [...rows].sort((x, y) => x.rank - y.rank).map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.layer = r.layer;
      for (const v of [String(r.rank), r.layer, r.layer_b, r.op_type, r.damage.toPrecision(3), r.cosine.toFixed(5),
        r.relative_error.toPrecision(3), r.max_abs_error.toPrecision(3),
        ...(timed ? [ms(r.latency_a), ms(r.latency_b)] : [])]) {
        tr.appendChild(Object.assign(document.createElement("td"), { textContent: v }));
      }
      tr.onclick = () => void this.pick(r.layer, r.layer_b);
      return tr;
    });
    table.replaceChildren(head, ...body);
  }

  private renderExplanations(result: CompareResult): void {
    const box = this.q<HTMLDivElement>(".cv-compare-explanations");
    box.replaceChildren();
    if (!result.explanations) return;
    const title = document.createElement("div");
    title.textContent = `${result.explanations.method}: per image, how alike the two maps are (least alike first)`;
    const table = document.createElement("table");
    const head = document.createElement("tr");
    for (const h of ["image", "Spearman", "SSIM"]) head.appendChild(Object.assign(document.createElement("th"), { textContent: h }));
    table.appendChild(head);
    const fmt = (v: number | null) => (v === null ? "–" : v.toFixed(3));
    const [nameA, nameB] = result.names;
    const grid = document.createElement("div");
    grid.className = "cv-compare-cams";
    for (const r of result.explanations.rows) {
      const tr = document.createElement("tr");
      for (const v of [String(r.image), fmt(r.spearman), fmt(r.ssim)]) {
        tr.appendChild(Object.assign(document.createElement("td"), { textContent: v }));
      }
      table.appendChild(tr);
      if (r.overlay_a === undefined || r.overlay_b === undefined) continue;
      const tile = document.createElement("figure");
      tile.dataset.image = String(r.image);
      for (const [index, name] of [[r.overlay_a, nameA], [r.overlay_b, nameB]] as [number, string][]) {
        const img = document.createElement("img");
        img.alt = `${name}, image ${r.image}`;
        img.dataset.artifact = String(index);
        tile.appendChild(img);
      }
      tile.appendChild(Object.assign(document.createElement("figcaption"),
        { textContent: `image ${r.image}: ${nameA} | ${nameB} · Spearman ${fmt(r.spearman)}` }));
      grid.appendChild(tile);
    }
    box.append(title, grid, table);
    void this.loadOverlays(grid);
  }

  /** The overlays of the least alike images, read from the job's artifacts (PNG). */
  private async loadOverlays(grid: HTMLElement): Promise<void> {
    const settings = (this.server as { settings?: ServerConnection.ISettings }).settings;
    if (!settings || !this.lastJob) return;
    const images = [...grid.querySelectorAll<HTMLImageElement>("img[data-artifact]")];
    await Promise.all(images.map(async (img) => {
      const url = `${this.server.apiUrl}jobs/${encodeURIComponent(this.lastJob)}/artifacts/${img.dataset.artifact}`;
      const response = await ServerConnection.makeRequest(url, {}, settings);
      if (!response.ok) return;
      const src = URL.createObjectURL(await response.blob());
      this.urls.push(src);
      img.src = src;
    }));
    grid.dataset.loaded = "true";
  }

  /** A node picked in one graph: its partner is revealed and selected in the other. */
  private async onSelect(side: 0 | 1, id: string): Promise<void> {
    if (this.syncing) return;
    const other = this.partner[side].get(id);
    if (other) await this.reveal(1 - side as 0 | 1, other);
    this.markRow(side === 0 ? id : other ?? "");
  }

  private async pick(a: string, b: string): Promise<void> {
    await Promise.all([this.reveal(0, a), this.reveal(1, b)]);
    this.markRow(a);
  }

  private async reveal(side: 0 | 1, id: string): Promise<void> {
    const graph = this.graphs[side];
    const i = graph.model?.index.get(id);
    if (i === undefined || !graph.model) return;
    this.syncing = true;
    try {
      for (const group of [...graph.model.ancestors(i)].reverse()) await graph.expand(graph.model.nodes[group].id);
      graph.select(id);
      graph.el.dataset.selected = id;
    } finally {
      this.syncing = false;
    }
  }

  private markRow(layer: string): void {
    this.el.querySelectorAll("tr.cv-picked").forEach((tr) => tr.classList.remove("cv-picked"));
    this.el.querySelector(`tr[data-layer="${CSS.escape(layer)}"]`)?.classList.add("cv-picked");
  }

  /** Quantizes model a, keeping the fewest layers in float; a table of every candidate tried. */
  async quantize(): Promise<void> {
    const labels = this.labels();
    if (!this.ids || !labels) {
      if (labels === null) this.status("The search needs labels: the class of each input.", true);
      return;
    }
    const args: Record<string, unknown> = { model: this.ids[0], labels,
      target_retention: Number(this.q<HTMLInputElement>(".cv-compare-target").value) };
    const out = this.q<HTMLInputElement>(".cv-compare-out").value.trim();
    if (out) args.out = out;
    try {
      const result = await this.job<any>("quantize", args, "Quantizing");
      const table = this.q<HTMLTableElement>(".cv-compare-candidates");
      const head = document.createElement("tr");
      for (const h of ["round", "layers in float", "retention", "size", "ms / input", "passed"]) {
        head.appendChild(Object.assign(document.createElement("th"), { textContent: h }));
      }
      const rows = (result.candidates as any[]).map((c) => {
        const tr = document.createElement("tr");
        for (const v of [String(c.round), (c.kept_float as string[]).join(", ") || "none",
          c.retention === null ? "–" : Number(c.retention).toFixed(4), `${(c.size_bytes / 1024).toFixed(0)} KiB`,
          Number(c.latency_ms).toFixed(3), c.passed ? "yes" : "no"]) {
          tr.appendChild(Object.assign(document.createElement("td"), { textContent: v }));
        }
        return tr;
      });
      table.replaceChildren(head, ...rows);
      this.status(`Wrote ${result.path}: retention ${Number(result.retention).toFixed(4)}, `
        + `${result.kept_float.length} layer(s) kept in float (FP32: `
        + `${Number(result.latency_fp32_ms).toFixed(3)} ms / input).`);
    } catch (err) {
      this.status((err as Error).message, true);
    }
  }

  private status(message: string, error = false): void {
    const box = this.q<HTMLDivElement>(".cv-compare-status");
    box.textContent = message;
    box.classList.toggle("cv-error", error);
  }

  dispose(): void {
    this.disposed = true;
    this.urls.forEach((u) => URL.revokeObjectURL(u));
    for (const id of this.ids ?? []) void this.server.request("close", { model: id }).catch(() => undefined);
  }
}
