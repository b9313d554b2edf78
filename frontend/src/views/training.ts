/** Training view: one ECharts line chart per tag, one series per run, following the logdir live.
 *
 * The view polls `scalar_updates` about once a second with a cursor per run/tag (how many points
 * it already holds), so each point arrives exactly once and in order, and a slow kernel only makes
 * updates later, never blocks it. The first reply of a long series is downsampled server-side with
 * a min/max envelope (drawn as a band), so single-step spikes stay visible. */
import * as echarts from "echarts/core";
import { CustomChart, LineChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, MarkAreaComponent, MarkPointComponent,
  TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { Transport } from "../transport/types";
import { FocusState, zoomWhenFocused } from "../util/chart-focus";
import { escapeHtml, formatNumber, formatPrecise } from "../util/text";
import { AxisItem, runsTooltip } from "../util/tooltip";
import { ChartGroup, RunList, orderTags } from "./chart-groups";
import { Cell, exportButtons, toCsv } from "./export";
import { smoothEma } from "./smoothing";

export { smoothEma };

echarts.use([LineChart, CustomChart, GridComponent, TooltipComponent, DataZoomComponent, LegendComponent,
  MarkPointComponent, MarkAreaComponent, CanvasRenderer]);

type Num = number | string; // the protocol sends NaN / ±Infinity as strings

interface Chunk {
  run: string; tag: string; since: number; cursor: number; reset: boolean; downsampled: boolean;
  steps: number[]; values: Num[]; wall_times: number[]; lo: Num[]; hi: Num[];
}

export interface Alert {
  kind: string; run: string; tag: string; first_step: number; last_step: number; message: string; severity: string;
}

interface Points { steps: number[]; values: number[]; walls: number[]; lo: number[]; hi: number[]; cursor: number; banded: boolean }

interface ChartBox {
  tag: string; el: HTMLDivElement; canvas: HTMLDivElement; chart: echarts.ECharts; alertsEl: HTMLDivElement;
  finished: number; focus: FocusState;
}



export type XAxis = "step" | "relative" | "wall";

const PALETTE = ["#1976d2", "#e65100", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#546e7a"];

const num = (v: Num): number => (typeof v === "number" ? v : Number(v));

export class TrainingView {
  readonly el: HTMLDivElement;
  /** run -> tag -> every point received so far (downsampled only where the server said so). */
  readonly data = new Map<string, Map<string, Points>>();
  alerts: Alert[] = [];
  private readonly charts = new Map<string, ChartBox>();
  private readonly groups = new Map<string, ChartGroup>();
  private readonly runList = new RunList(() => this.renderAll());
  private readonly chartsEl: HTMLDivElement;
  private readonly statusEl: HTMLSpanElement;
  private timer = 0;
  private disposed = false;
  private alertsPending = false;
  private opts = { smoothing: 0.6, logY: false, x: "step" as XAxis, runs: /.*/, tags: /.*/ };

  constructor(private readonly transport: Transport, private readonly logdir: string,
              private readonly pollMs = 1000) {
    this.el = document.createElement("div");
    this.el.className = "cv-training";
    this.el.dataset.state = "loading";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Runs <input class="cv-run-filter" type="text" placeholder="regex" size="10"></label>
      <label>Tags <input class="cv-tag-filter" type="text" placeholder="regex" size="10"></label>
      <label>Smoothing <input class="cv-smoothing" type="range" min="0" max="0.99" step="0.01" value="0.6">
        <span class="cv-smoothing-value">0.60</span></label>
      <label><input class="cv-logy" type="checkbox"> log y</label>
      <label>x <select class="cv-xaxis"><option value="step">step</option><option value="relative">relative</option>
        <option value="wall">wall</option></select></label>
      <span class="cv-live"></span></div><div class="cv-charts"></div>`;
    this.chartsEl = this.el.querySelector(".cv-charts")!;
    this.chartsEl.before(this.runList.el);
    this.statusEl = this.el.querySelector(".cv-live")!;
    const q = <T extends HTMLElement>(s: string) => this.el.querySelector<T>(s)!;
    const regex = (input: HTMLInputElement, key: "runs" | "tags") => {
      input.oninput = () => {
        try { this.opts[key] = new RegExp(input.value || ".*"); input.classList.remove("cv-invalid"); }
        catch { input.classList.add("cv-invalid"); return; }
        this.renderAll();
      };
    };
    regex(q<HTMLInputElement>(".cv-run-filter"), "runs");
    regex(q<HTMLInputElement>(".cv-tag-filter"), "tags");
    const smoothing = q<HTMLInputElement>(".cv-smoothing");
    smoothing.oninput = () => {
      this.opts.smoothing = Number(smoothing.value);
      q(".cv-smoothing-value").textContent = this.opts.smoothing.toFixed(2);
      this.renderAll();
    };
    const logY = q<HTMLInputElement>(".cv-logy");
    logY.onchange = () => { this.opts.logY = logY.checked; this.renderAll(); };
    const xaxis = q<HTMLSelectElement>(".cv-xaxis");
    xaxis.onchange = () => { this.opts.x = xaxis.value as XAxis; this.renderAll(); };
  }

  async start(): Promise<void> {
    await this.poll();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.timer);
    for (const box of this.charts.values()) box.chart.dispose();
  }

  /** Charts are sized when shown: call after the view was hidden. */
  resize(): void {
    for (const box of this.charts.values()) box.chart.resize();
  }

  private async poll(): Promise<void> {
    if (this.disposed) return;
    const cursors: Record<string, Record<string, number>> = {};
    for (const [run, tags] of this.data) {
      cursors[run] = {};
      for (const [tag, p] of tags) cursors[run][tag] = p.cursor;
    }
    try {
      const reply = await this.transport.request<{ series: Chunk[] }>("scalar_updates", { logdir: this.logdir, cursors });
      const changed = this.merge(reply.result.series);
      if (changed.size) {
        this.renderTags(changed);
        void this.loadAlerts();
      }
      this.statusEl.textContent = `live · ${new Date().toLocaleTimeString()}`;
      if (this.el.dataset.state !== "ready") this.el.dataset.state = this.data.size ? "ready" : "empty";
    } catch (err) {
      this.statusEl.textContent = `paused: ${(err as Error).message}`;
      if (this.el.dataset.state === "loading") this.el.dataset.state = "error";
    }
    // Follows until the view is disposed (its output cleared or the cell re-run). Not tied to
    // isConnected: JupyterLab detaches the outputs of cells scrolled out of view.
    if (!this.disposed) this.timer = window.setTimeout(() => void this.poll(), this.pollMs);
  }

  private merge(chunks: Chunk[]): Set<string> {
    const changed = new Set<string>();
    for (const c of chunks) {
      let tags = this.data.get(c.run);
      if (!tags) this.data.set(c.run, tags = new Map());
      let p = tags.get(c.tag);
      if (!p || c.reset) tags.set(c.tag, p = { steps: [], values: [], walls: [], lo: [], hi: [], cursor: 0, banded: false });
      if (c.since !== p.cursor) continue; // a stale reply; the next poll asks again from our cursor
      for (let i = 0; i < c.steps.length; i++) {
        p.steps.push(c.steps[i]); p.values.push(num(c.values[i])); p.walls.push(c.wall_times[i]);
        p.lo.push(num(c.lo[i])); p.hi.push(num(c.hi[i]));
      }
      p.cursor = c.cursor;
      p.banded ||= c.downsampled;
      changed.add(c.tag);
    }
    return changed;
  }

  private async loadAlerts(): Promise<void> {
    if (this.alertsPending) return;
    this.alertsPending = true;
    try {
      const reply = await this.transport.request<{ alerts: Alert[] }>("alerts", { logdir: this.logdir });
      const before = JSON.stringify(this.alerts);
      this.alerts = reply.result.alerts;
      if (JSON.stringify(this.alerts) !== before) this.renderTags(new Set(this.alerts.map((a) => a.tag)));
    } catch { /* alerts are a bonus: the curves stay */ } finally {
      this.alertsPending = false;
    }
  }

  /** Tags of the shown runs that pass the tag filter, in display order (see orderTags). */
  private tags(): string[] {
    const all = new Set<string>();
    for (const run of this.runs()) for (const t of this.data.get(run)!.keys()) all.add(t);
    return orderTags([...all].filter((t) => this.opts.tags.test(t))).flatMap((g) => g.tags);
  }

  private allRuns(): string[] {
    return [...this.data.keys()].sort();
  }

  /** Runs passing the regex and not switched off in the run list. */
  private runs(): string[] {
    return this.allRuns().filter((r) => this.opts.runs.test(r) && !this.runList.off.has(r));
  }

  /** A run keeps its colour whatever is filtered. */
  private color(run: string): string {
    return PALETTE[Math.max(0, this.allRuns().indexOf(run)) % PALETTE.length];
  }

  private renderAll(): void {
    this.renderTags(new Set(this.tags()));
  }

  private renderTags(tags: Set<string>): void {
    const wanted = this.tags();
    this.runList.render(this.allRuns().map((name) => ({ name, color: this.color(name), shown: this.opts.runs.test(name) })));
    for (const [tag, box] of this.charts) box.el.hidden = !wanted.includes(tag);
    for (const tag of wanted) {
      if (!tags.has(tag) && this.charts.has(tag)) continue;
      const box = this.charts.get(tag) ?? this.makeChart(tag);
      box.chart.setOption(this.option(tag), { notMerge: true, lazyUpdate: false });
      // How many points of this tag the view has taken in (before any downsampling), for checks.
      box.el.dataset.points = String([...this.data.values()].reduce((n, t) => n + (t.get(tag)?.cursor ?? 0), 0));
      this.renderAlertList(box);
    }
    this.layout(wanted);
  }

  /** Puts every chart in its group, groups and charts in display order; empty groups hidden. */
  private layout(wanted: string[]): void {
    const order = orderTags(wanted);
    for (const g of this.groups.values()) g.el.hidden = !order.some((o) => o.group === g.name);
    for (const { group, tags } of order) {
      let box = this.groups.get(group);
      if (!box) this.groups.set(group, box = new ChartGroup(group, () => this.resize()));
      box.setCount(tags.length);
      this.chartsEl.appendChild(box.el); // appending an attached node moves it: this sorts
      for (const tag of tags) box.body.appendChild(this.charts.get(tag)!.el);
    }
  }

  private makeChart(tag: string): ChartBox {
    const el = document.createElement("div");
    el.className = "cv-chart";
    el.dataset.tag = tag;
    const head = document.createElement("div");
    head.className = "cv-chart-head";
    const title = document.createElement("span");
    title.className = "cv-chart-title";
    title.textContent = tag;
    const canvas = document.createElement("div");
    canvas.className = "cv-chart-canvas";
    const alertsEl = document.createElement("div");
    alertsEl.className = "cv-chart-alerts";
    el.append(head, canvas, alertsEl);
    const chart = echarts.init(canvas, undefined, { renderer: "canvas" });
    const box: ChartBox = { tag, el, canvas, chart, alertsEl, finished: 0, focus: zoomWhenFocused(canvas, chart) };
    const expand = document.createElement("button");
    expand.type = "button";
    expand.className = "cv-chart-expand";
    expand.textContent = "⤢";
    expand.title = "Expand this chart to the panel's width";
    expand.onclick = () => { el.classList.toggle("cv-chart-wide"); chart.resize(); };
    const tools = exportButtons({ name: () => tag, csv: () => this.csv(tag), png: () => chart.getDataURL({
      type: "png", pixelRatio: 2, backgroundColor: getComputedStyle(this.el).backgroundColor || "#fff" }) });
    tools.prepend(expand);
    head.append(title, tools);
    // Tests and benchmarks read the instance and the draw count from the element.
    (canvas as unknown as { cnnvisChart: echarts.ECharts }).cnnvisChart = chart;
    chart.on("finished", () => {
      box.finished += 1;
      el.dataset.finished = String(box.finished);
      if (box.finished === 1) this.noteFirstDraw();
    });
    new ResizeObserver(() => chart.resize()).observe(canvas);
    this.charts.set(tag, box);
    return box;
  }

  /** When every chart has drawn once: `data-drawn-at` (performance.now()) for benchmarks. */
  private noteFirstDraw(): void {
    const drawn = [...this.charts.values()].filter((b) => b.finished > 0).length;
    this.el.dataset.chartsDrawn = String(drawn);
    if (drawn === this.tags().length && !this.el.dataset.drawnAt) this.el.dataset.drawnAt = String(performance.now());
  }

  private x(p: Points, i: number): number {
    if (this.opts.x === "step") return p.steps[i];
    if (this.opts.x === "relative") return p.walls[i] - p.walls[0];
    return p.walls[i] * 1000;
  }

  private y(v: number): number | null {
    if (!Number.isFinite(v)) return null;
    return this.opts.logY && v <= 0 ? null : v;
  }

  private option(tag: string): echarts.EChartsCoreOption {
    const series: Record<string, unknown>[] = [];
    const runs = this.runs();
    const smoothing = this.opts.smoothing;
    runs.forEach((run) => {
      const p = this.data.get(run)?.get(tag);
      if (!p) return;
      const color = this.color(run);
      const xs = p.steps.map((_, i) => this.x(p, i));
      if (p.banded && !this.opts.logY) {
        // The min/max of every bucket the server merged, as one polygon behind the curve: what
        // downsampling removed is still seen. (Stacked areas would stack x too on value axes.)
        const band = xs.map((x, i) => [x, p.lo[i], p.hi[i]]).filter((r) => Number.isFinite(r[1]) && Number.isFinite(r[2]));
        series.push({ id: `band:${run}`, name: run, type: "custom", silent: true, clip: true, z: 1,
          data: band.length ? [[band[0][0], band[0][1]]] : [], tooltip: { show: false },
          renderItem: (_: unknown, api: { coord: (v: number[]) => number[] }) => ({
            type: "polygon", silent: true,
            shape: { points: [...band.map((r) => api.coord([r[0], r[2]])), ...band.slice().reverse().map((r) => api.coord([r[0], r[1]]))] },
            style: { fill: color, opacity: 0.2 },
          }) });
      }
      const raw = xs.map((x, i) => [x, this.y(p.values[i])]);
      // Past a few thousand points (a long live run) ECharts thins what it paints; spikes survive LTTB.
      series.push({ id: `raw:${run}`, name: run, type: "line", symbol: "none", showSymbol: false, color,
        sampling: raw.length > 5000 ? "lttb" : undefined,
        lineStyle: { width: 1, opacity: smoothing > 0 ? 0.3 : 1 }, data: raw, markPoint: this.markPoints(run, tag, p),
        markArea: this.markAreas(run, tag, p) });
      if (smoothing > 0) {
        const sm = smoothEma(p.values, smoothing);
        series.push({ id: `smooth:${run}`, name: run, type: "line", symbol: "none", color, lineStyle: { width: 2 },
          data: xs.map((x, i) => [x, this.y(sm[i])]) });
      }
    });
    const wall = this.opts.x === "wall";
    return {
      animation: false,
      color: PALETTE,
      // The run list above the charts is the legend: no room is lost to one per chart.
      grid: { left: 6, right: 14, top: 12, bottom: 6, containLabel: true },
      tooltip: { trigger: "axis", confine: true, axisPointer: { type: "line" },
        formatter: (items: AxisItem[]) => this.tooltip(items) },
      xAxis: { type: wall ? "time" : "value", scale: true, axisLabel: wall ? { hideOverlap: true }
        : { formatter: formatNumber, hideOverlap: true }, minInterval: this.opts.x === "step" ? 1 : undefined },
      yAxis: { type: this.opts.logY ? "log" : "value", scale: true, axisLabel: { formatter: formatNumber } },
      dataZoom: [{ type: "inside", disabled: !(this.charts.get(tag)?.focus.focused ?? false) }],
      series,
    };
  }

  /** One line per run, every name escaped: run names come from the logdir's folders. */
  private tooltip(items: AxisItem[]): string {
    const x = items.find((i) => Array.isArray(i.value))?.value as number[] | undefined;
    const head = x === undefined ? "" : this.opts.x === "wall" ? new Date(x[0]).toLocaleString()
      : `${this.opts.x === "step" ? "step" : "seconds"} ${formatPrecise(x[0], 6)}`;
    return runsTooltip(head, items, (run) => this.color(run));
  }

  private alertsFor(run: string, tag: string): Alert[] {
    return this.alerts.filter((a) => a.run === run && a.tag === tag);
  }

  /** Index of the first point at or after `step` (steps are in write order, usually increasing). */
  private indexOf(p: Points, step: number): number {
    const i = p.steps.findIndex((s) => s >= step);
    return i < 0 ? p.steps.length - 1 : i;
  }

  private markPoints(run: string, tag: string, p: Points): Record<string, unknown> | undefined {
    const alerts = this.alertsFor(run, tag);
    if (!alerts.length || !p.steps.length) return undefined;
    const data = alerts.map((a) => {
      const i = this.indexOf(p, a.first_step);
      // A NaN has no height: pin the marker on the nearest finite value before it.
      let j = i;
      while (j > 0 && this.y(p.values[j]) === null) j--;
      const y = this.y(p.values[j]) ?? 0;
      return { name: a.kind, coord: [this.x(p, i), y], value: a.kind === "nan" ? "NaN" : "!", message: a.message,
        itemStyle: { color: a.severity === "error" ? "#d32f2f" : "#f57c00" } };
    });
    return { symbol: "pin", symbolSize: 36, label: { fontSize: 9 }, data,
      tooltip: { trigger: "item", formatter: (item: { data?: { message?: string } }) => escapeHtml(item.data?.message) } };
  }

  private markAreas(run: string, tag: string, p: Points): Record<string, unknown> | undefined {
    const spans = this.alertsFor(run, tag).filter((a) => a.last_step > a.first_step);
    if (!spans.length || !p.steps.length) return undefined;
    return { silent: false, itemStyle: { color: "rgba(245,124,0,0.12)" },
      tooltip: { trigger: "item", formatter: (item: { data?: { message?: string } }) => escapeHtml(item.data?.message) },
      data: spans.map((a) => [{ xAxis: this.x(p, this.indexOf(p, a.first_step)), name: a.kind, message: a.message },
        { xAxis: this.x(p, this.indexOf(p, a.last_step)) }]) };
  }

  private renderAlertList(box: ChartBox): void {
    const alerts = this.alerts.filter((a) => a.tag === box.tag && this.opts.runs.test(a.run));
    box.el.dataset.alerts = String(alerts.length);
    box.alertsEl.replaceChildren(...alerts.map((a) => {
      const line = document.createElement("div");
      line.className = `cv-alert cv-alert-${a.severity}`;
      line.dataset.kind = a.kind;
      line.textContent = `${a.run}: ${a.message}`;
      line.title = `${a.kind}, steps ${a.first_step}–${a.last_step}`;
      return line;
    }));
  }

  private csv(tag: string): string {
    const rows: Cell[][] = [];
    for (const run of this.runs()) {
      const p = this.data.get(run)?.get(tag);
      if (!p) continue;
      const sm = smoothEma(p.values, this.opts.smoothing);
      p.steps.forEach((s, i) => rows.push([run, s, p.walls[i], p.values[i], sm[i], p.lo[i], p.hi[i]]));
    }
    return toCsv(["run", "step", "wall_time", "value", "smoothed", "bucket_min", "bucket_max"], rows);
  }
}
