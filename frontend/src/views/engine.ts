/** Engine views for deployed models (TensorRT exports, ONNX): per-layer latency bars (sortable, with
 * precision and per-tensor formats), the per-iteration latency distribution, the source ONNX graph
 * painted with the engine's latency, and the side-by-side comparison of engines. They speak only
 * the message protocol (`profile`, `run_profile`, `source_graph`, `compare`), on any transport. */
import * as echarts from "echarts/core";
import { BarChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { Transport } from "../transport/types";
import { GraphView } from "./graph";
import { GraphDict } from "./graph-model";
import { uniqueLabels } from "./graph-extras";
import { escapeHtml } from "../util/text";

echarts.use([BarChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

interface Tensor { name?: string; shape?: number[]; format?: string | null; precision?: string | null }

export interface ProfileRow {
  node: string; op_type?: string | null; precision?: string | null; mean_ms: number | null; pct: number | null;
  source_nodes?: string[]; inputs?: Tensor[]; outputs?: Tensor[]; tactic?: string | null;
}

export interface Timing {
  count: number; label: string; median_ms?: number; mean_ms?: number; p90_ms?: number; p99_ms?: number;
  histogram?: { edges: number[]; counts: number[] };
}

export interface ProfileReply {
  framework: string; source: string; rows: ProfileRow[]; totals: Record<string, unknown>;
  notes: Record<string, string>; timing: Timing | null;
}

export interface CompareReply {
  alignment: string; names: string[]; rows: Record<string, unknown>[];
  totals: Record<string, string | number | null>[];
}

type Sort = "order" | "slowest" | "name";

const PRECISION_COLORS: Record<string, string> = { FP32: "#4e79a7", FP16: "#59a14f", BF16: "#76b7b2",
  INT8: "#f28e2b", FP8: "#e15759" };

function ms(v: unknown, digits = 4): string {
  return typeof v === "number" ? `${v.toFixed(digits)} ms` : "–";
}

function formats(tensors: Tensor[] | undefined): string {
  return (tensors ?? []).map((t) => t.format ?? t.precision ?? "?").join("; ");
}

/** Room for the category labels: at most 220 px, at most 40% of a narrow sidebar. */
function labelWidth(host: HTMLElement): number {
  return Math.round(Math.min(220, Math.max(60, 0.4 * (host.clientWidth || 600))));
}

/** A chart in a div sized to its content (ECharts needs a height before init). */
function chartIn(host: HTMLElement, height: number): echarts.ECharts {
  host.style.height = `${height}px`;
  const existing = echarts.getInstanceByDom(host);
  if (existing) { existing.resize(); return existing; }
  return echarts.init(host, undefined, { renderer: "canvas" });
}

export class EngineView {
  readonly el: HTMLDivElement;
  profile: ProfileReply | null = null;
  private sort: Sort = "order";
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(private readonly transport: Transport, private readonly framework = "") {
    this.el = document.createElement("div");
    this.el.className = "cv-engine";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Sort <select class="cv-engine-sort"><option value="order">engine order</option>
        <option value="slowest">slowest first</option><option value="name">name</option></select></label>
      <button type="button" class="cv-engine-run" hidden>Time on inputs</button>
      <input class="cv-engine-source-path" placeholder="source .onnx (paint it with this engine)">
      <button type="button" class="cv-engine-paint">Paint ONNX graph</button>
      <span class="cv-engine-info"></span></div>
      <div class="cv-error" hidden></div>
      <div class="cv-engine-bars"></div>
      <details class="cv-engine-details"><summary>Layers: precision and tensor formats</summary>
        <table class="cv-engine-table"></table></details>
      <div class="cv-engine-timing"><div class="cv-engine-timing-title"></div><div class="cv-engine-hist"></div></div>
      <div class="cv-engine-source"></div>`;
    this.q<HTMLSelectElement>(".cv-engine-sort").onchange = (e) => {
      this.sort = (e.target as HTMLSelectElement).value as Sort;
      this.render();
    };
    const runButton = this.q<HTMLButtonElement>(".cv-engine-run");
    runButton.hidden = framework !== "onnx";
    runButton.onclick = () => void this.load("run_profile");
    for (const el of this.el.querySelectorAll<HTMLElement>(".cv-engine-source-path, .cv-engine-paint")) {
      el.hidden = framework !== "tensorrt"; // painting maps an engine onto its source graph
    }
    this.q<HTMLButtonElement>(".cv-engine-paint").onclick = () =>
      void this.paintSource(this.q<HTMLInputElement>(".cv-engine-source-path").value.trim());
  }

  /** The stored profile; an ONNX model not timed yet says how to time it instead of failing. */
  async start(): Promise<void> {
    await this.load("profile");
  }

  async load(kind: "profile" | "run_profile"): Promise<void> {
    this.el.dataset.state = "loading";
    this.setError("");
    try {
      const reply = await this.transport.request<ProfileReply>(kind, kind === "run_profile" ? { runs: 10 } : {});
      this.profile = reply.result;
      this.render();
      this.el.dataset.state = "ready";
    } catch (err) {
      this.el.dataset.state = "empty";
      if (kind === "run_profile") this.clearProfile(); // a failed timing must not leave the old one under it
      this.setError(this.framework === "onnx" && kind === "profile"
        ? "Not timed yet: “Time on inputs” runs onnxruntime's profiler on the model's inputs."
        : (err as Error).message);
    }
  }

  sortedRows(): ProfileRow[] {
    const rows = [...(this.profile?.rows ?? [])];
    if (this.sort === "slowest") rows.sort((a, b) => (b.mean_ms ?? -1) - (a.mean_ms ?? -1));
    if (this.sort === "name") rows.sort((a, b) => a.node.localeCompare(b.node));
    return rows;
  }

  private render(): void {
    const p = this.profile;
    if (!p) return;
    const rows = this.sortedRows();
    const total = p.totals.nodes_ms;
    this.q<HTMLSpanElement>(".cv-engine-info").textContent = `${rows.length} layers · sum of layer averages `
      + `${ms(total, 3)} · ${p.source}`;
    this.renderBars(rows);
    this.renderTable(rows);
    this.renderTiming(p.timing);
  }

  private renderBars(rows: ProfileRow[]): void {
    const host = this.q<HTMLDivElement>(".cv-engine-bars");
    const chart = chartIn(host, Math.max(160, rows.length * 16 + 40));
    const width = labelWidth(host);
    // Fused layers share long prefixes ("Reformatting CopyNode for Input Tensor 0 to ..."): labels
    // keep each name's end so no two read alike; the full name is in the bar's tooltip.
    const labels = uniqueLabels(rows.map((r) => r.node), Math.max(6, Math.floor(width / 6.5)));
    host.dataset.labels = JSON.stringify(labels);
    chart.setOption({
      animation: false,
      // "axis": anywhere on a row (a tiny bar too) shows that layer's full name.
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true,
        formatter: (items: { dataIndex: number } | { dataIndex: number }[]) => {
        const r = rows[(Array.isArray(items) ? items[0] : items).dataIndex];
        return `<b>${escapeHtml(r.node)}</b><br>${ms(r.mean_ms)} · ${r.pct?.toFixed(2) ?? "–"}% · ${escapeHtml(r.precision ?? "?")}`
          + `<br>in: ${escapeHtml(formats(r.inputs))}<br>out: ${escapeHtml(formats(r.outputs))}`
          + (r.tactic ? `<br>tactic: ${escapeHtml(r.tactic)}` : "");
      } },
      grid: { left: width + 10, right: 50, top: 8, bottom: 28 },
      xAxis: { type: "value", name: "ms (average per iteration)", nameLocation: "middle", nameGap: 20 },
      yAxis: { type: "category", inverse: true, data: rows.map((r) => r.node),
        axisLabel: { width, overflow: "none", formatter: (_: string, i: number) => labels[i] } },
      series: [{ type: "bar", data: rows.map((r) => ({ value: r.mean_ms ?? 0,
        itemStyle: { color: PRECISION_COLORS[r.precision ?? ""] ?? "#9c9c9c" } })),
        label: { show: true, position: "right", formatter: (x: { dataIndex: number }) =>
          rows[x.dataIndex].precision ?? "" } }],
    }, true);
  }

  private renderTable(rows: ProfileRow[]): void {
    const head = "<tr><th>layer</th><th>ms</th><th>%</th><th>precision</th><th>input formats</th>"
      + "<th>output formats</th></tr>";
    this.q<HTMLTableElement>(".cv-engine-table").innerHTML = head + rows.map((r) => `<tr><td>${escapeHtml(r.node)}</td>`
      + `<td>${r.mean_ms?.toFixed(4) ?? "–"}</td><td>${r.pct?.toFixed(2) ?? "–"}</td><td>${escapeHtml(r.precision ?? "")}</td>`
      + `<td>${escapeHtml(formats(r.inputs))}</td><td>${escapeHtml(formats(r.outputs))}</td></tr>`).join("");
  }

  private renderTiming(timing: Timing | null): void {
    const box = this.q<HTMLDivElement>(".cv-engine-timing");
    box.hidden = !timing?.histogram;
    if (!timing?.histogram) return;
    const { edges, counts } = timing.histogram;
    this.q<HTMLDivElement>(".cv-engine-timing-title").textContent = `Per-iteration latency: ${timing.label} · `
      + `median ${ms(timing.median_ms)} · p90 ${ms(timing.p90_ms)} · p99 ${ms(timing.p99_ms)}`;
    const centres = counts.map((_, i) => ((edges[i] + edges[i + 1]) / 2).toFixed(4));
    chartIn(this.q(".cv-engine-hist"), 200).setOption({
      animation: false, tooltip: { trigger: "axis" }, grid: { left: 50, right: 16, top: 10, bottom: 40 },
      xAxis: { type: "category", data: centres, name: "ms per iteration", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", name: "iterations" },
      series: [{ type: "bar", barCategoryGap: "2%", data: counts }],
    }, true);
  }

  /** The ONNX graph the engine was built from, nodes coloured by the latency mapped onto them. */
  async paintSource(source: string): Promise<void> {
    const host = this.q<HTMLDivElement>(".cv-engine-source");
    host.replaceChildren(); // the previous painting is about another source: never left under an error
    if (!source) return this.setError("Give the .onnx file the engine was built from.");
    this.setError("");
    try {
      const reply = await this.transport.request<GraphDict & { engine_only: unknown[]; unclaimed: string[] }>(
        "source_graph", { source });
      const view = new GraphView();
      const note = document.createElement("div");
      note.className = "cv-engine-source-note";
      note.textContent = `${source}: ${reply.result.engine_only.length} engine-only layers (reformats, copies), `
        + `${reply.result.unclaimed.length} ONNX nodes no engine layer claims.`;
      host.replaceChildren(note, view.el);
      await view.setGraph(reply.result);
    } catch (err) {
      this.setError((err as Error).message);
    }
  }

  private clearProfile(): void {
    this.profile = null;
    for (const s of [".cv-engine-bars", ".cv-engine-hist"]) echarts.getInstanceByDom(this.q(s))?.dispose();
    this.q<HTMLTableElement>(".cv-engine-table").innerHTML = "";
    this.q<HTMLSpanElement>(".cv-engine-info").textContent = "";
    this.q<HTMLDivElement>(".cv-engine-timing").hidden = true;
  }

  private setError(message: string): void {
    const box = this.q<HTMLDivElement>(".cv-error");
    box.textContent = message;
    box.hidden = !message;
  }

  resize(): void {
    for (const s of [".cv-engine-bars", ".cv-engine-hist"]) echarts.getInstanceByDom(this.q(s))?.resize();
  }
}

/** Two or more engines side by side: one group of bars per aligned row, then each engine's totals,
 * each labelled with what it measures (summed layer averages are not an end-to-end latency). */
export class CompareView {
  readonly el: HTMLDivElement;

  constructor(readonly data: CompareReply) {
    this.el = document.createElement("div");
    this.el.className = "cv-compare-engines";
    this.el.innerHTML = `<div class="cv-compare-title"></div><div class="cv-compare-bars"></div>
      <table class="cv-compare-totals"></table>`;
  }

  static async load(transport: Transport, models: string[], names?: string[]): Promise<CompareView> {
    const reply = await transport.request<CompareReply>("compare", names ? { models, names } : { models });
    return new CompareView(reply.result);
  }

  render(): void {
    const { names, rows, alignment, totals } = this.data;
    this.el.querySelector(".cv-compare-title")!.textContent =
      `${names.join(" · ")} — ${rows.length} aligned rows, aligned by ${alignment}`;
    const groups = rows.map((r) => String(r.group));
    const host = this.el.querySelector<HTMLDivElement>(".cv-compare-bars")!;
    const width = labelWidth(host);
    chartIn(host, Math.max(200, rows.length * 10 * names.length + 80)).setOption({
      animation: false, legend: { top: 0 }, tooltip: { trigger: "axis", confine: true },
      grid: { left: width + 10, right: 16, top: 28 + 22 * Math.ceil(names.length / 2), bottom: 28 },
      xAxis: { type: "value", name: "ms (sum of layer averages in the row)", nameLocation: "middle", nameGap: 20 },
      yAxis: { type: "category", inverse: true, data: groups, axisLabel: { width, overflow: "truncate" } },
      series: names.map((name) => ({ name, type: "bar", data: rows.map((r) => r[`${name}_latency_ms`] ?? 0) })),
    }, true);
    const head = "<tr><th>engine</th><th>device</th><th>layers</th><th>sum of layer averages</th>"
      + "<th>end-to-end median (p90, p99)</th></tr>";
    this.el.querySelector(".cv-compare-totals")!.innerHTML = head + totals.map((t) => `<tr><td>${escapeHtml(t.engine)}</td>`
      + `<td>${escapeHtml(t.device ?? "")}</td><td>${escapeHtml(t.layers)}</td>`
      + `<td title="${escapeHtml(t.sum_label)}">${ms(t.sum_of_layer_averages_ms, 3)}<br><small>${escapeHtml(t.sum_label)}</small></td>`
      + (typeof t.e2e_median_ms === "number"
        ? `<td title="${escapeHtml(t.e2e_label)}">${ms(t.e2e_median_ms, 3)} (${ms(t.e2e_p90_ms, 3)}, ${ms(t.e2e_p99_ms, 3)})`
          + `<br><small>${escapeHtml(t.e2e_label)}</small></td>`
        : "<td>no timing export</td>") + "</tr>").join("");
    this.el.dataset.state = "ready";
  }
}
