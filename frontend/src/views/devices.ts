/** Devices view: Jetson boards that stream to the server, and live charts of the one picked.
 *
 * It speaks only the message protocol (request kinds `devices` and `device_samples`), so it runs
 * on any transport. The device list is polled every few seconds; the picked device's samples are
 * polled with a `since` cursor (the last sequence number held), so each sample arrives once and
 * in order, and a slow link only delays the charts. Charts keep the newest `window` samples. */
import * as echarts from "echarts/core";
import { BarChart, LineChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, MarkLineComponent, TooltipComponent }
  from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { Transport } from "../transport/types";
import { AxisItem, axisTooltip } from "../util/tooltip";
import { formatNumber } from "../util/text";
import { CpuStrip } from "./cpu-strip";
import { Cell, downloadText, safeName, toCsv } from "./export";

echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent,
  MarkLineComponent, CanvasRenderer]);

export interface Device {
  id: string; name: string; connected: boolean; last_seq: number; count: number;
  last_seen: number | null; info: Record<string, unknown>;
}

interface Load { load: number | null; freq_mhz?: number | null; freqs_mhz?: number[] }
interface Layer { name: string; avg_ms?: number; median_ms?: number; pct?: number }

export interface Sample {
  seq: number; t: number | null; time: string | null; marker?: string;
  cpu?: (Load | null)[]; gpu?: Load | null; emc?: Load | null;
  temps?: Record<string, number | null>; rails?: Record<string, { cur_mw: number | null }>;
  total_mw?: number | null; profile?: { engine: string | null; layers: Layer[] };
}

interface SamplesReply { samples: Sample[]; cursor: number; more: boolean }

type Extract = (s: Sample) => Record<string, number | null>;

/** One chart per family of fields; each returns {series name: value} for a sample. CPU cores are
 * drawn as a heat strip (one row per core) rather than as lines. */
const CHARTS: { key: string; title: string; unit: string; extract: Extract }[] = [
  { key: "cpu", title: "CPU load per core", unit: "%",
    extract: (s) => Object.fromEntries((s.cpu ?? []).map((c, i) => [`cpu${i}`, c ? c.load : null])) },
  { key: "gpu", title: "GPU and EMC load", unit: "%",
    extract: (s) => ({ gpu: s.gpu?.load ?? null, emc: s.emc?.load ?? null }) },
  { key: "freq", title: "Clocks", unit: "MHz",
    extract: (s) => ({ gpu: s.gpu?.freqs_mhz?.[0] ?? null, emc: s.emc?.freqs_mhz?.[0] ?? null }) },
  { key: "temps", title: "Temperatures", unit: "°C", extract: (s) => ({ ...(s.temps ?? {}) }) },
  { key: "power", title: "Power rails", unit: "mW",
    extract: (s) => ({ ...Object.fromEntries(Object.entries(s.rails ?? {}).map(([k, r]) => [k, r.cur_mw])),
      total: s.total_mw ?? null }) },
];

export class DevicesView {
  readonly el: HTMLDivElement;
  devices: Device[] = [];
  /** The picked device's newest samples (stats only), oldest first. */
  samples: Sample[] = [];
  profile: Sample["profile"] | null = null;
  private device: string | null = null;
  private cursor = 0;
  private readonly charts = new Map<string, echarts.ECharts>();
  private readonly cpu = new CpuStrip();
  private profileChart: echarts.ECharts | null = null;
  private listTimer = 0;
  private sampleTimer = 0;
  private disposed = false;
  private readonly listEl: HTMLSelectElement;
  private readonly statusEl: HTMLSpanElement;
  private readonly chartsEl: HTMLDivElement;

  constructor(private readonly transport: Transport, private readonly window = 600,
              private readonly pollMs = 500) {
    this.el = document.createElement("div");
    this.el.className = "cv-devices";
    this.el.dataset.state = "loading";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Device <select class="cv-device"><option value="">(none yet)</option></select></label>
      <button class="cv-device-csv" type="button" title="Download the samples shown as CSV">CSV</button>
      <span class="cv-live"></span></div>
      <div class="cv-device-charts"></div>
      <div class="cv-device-profile"><div class="cv-profile-title"></div><div class="cv-profile-canvas"></div></div>`;
    this.listEl = this.el.querySelector(".cv-device")!;
    this.statusEl = this.el.querySelector(".cv-live")!;
    this.chartsEl = this.el.querySelector(".cv-device-charts")!;
    this.chartsEl.appendChild(this.cpu.el);
    this.listEl.onchange = () => this.attach(this.listEl.value || null);
    this.el.querySelector<HTMLButtonElement>(".cv-device-csv")!.onclick = () => this.exportCsv();
  }

  async start(): Promise<void> {
    await this.pollDevices();
  }

  dispose(): void {
    this.disposed = true;
    window.clearTimeout(this.listTimer);
    window.clearTimeout(this.sampleTimer);
    for (const chart of this.charts.values()) chart.dispose();
    this.profileChart?.dispose();
  }

  resize(): void {
    for (const chart of this.charts.values()) chart.resize();
    this.profileChart?.resize();
  }

  /** Follow another device (null: none): its charts start from its newest `window` samples. */
  attach(device: string | null): void {
    this.device = device;
    this.samples = [];
    this.profile = null;
    const known = this.devices.find((d) => d.id === device);
    this.cursor = known ? Math.max(0, known.last_seq - this.window) : 0;
    window.clearTimeout(this.sampleTimer);
    if (device) void this.pollSamples();
  }

  private async pollDevices(): Promise<void> {
    if (this.disposed) return;
    try {
      const reply = await this.transport.request<{ devices: Device[] }>("devices", {});
      this.devices = reply.result.devices;
      this.renderList();
      if (this.device === null && this.devices.length) {
        const live = this.devices.find((d) => d.connected) ?? this.devices[0];
        this.listEl.value = live.id;
        this.attach(live.id);
      }
      if (this.el.dataset.state === "loading") this.el.dataset.state = this.devices.length ? "ready" : "empty";
    } catch (err) {
      this.statusEl.textContent = `devices unavailable: ${(err as Error).message}`;
      if (this.el.dataset.state === "loading") this.el.dataset.state = "error";
    }
    this.listTimer = window.setTimeout(() => void this.pollDevices(), 3000);
  }

  private renderList(): void {
    const picked = this.listEl.value;
    this.listEl.innerHTML = this.devices.length ? "" : `<option value="">(none yet)</option>`;
    for (const d of this.devices) {
      const option = document.createElement("option");
      option.value = d.id;
      option.textContent = `${d.connected ? "● " : "○ "}${d.name} (${d.count} samples)`;
      this.listEl.appendChild(option);
    }
    if (picked) this.listEl.value = picked;
  }

  private async pollSamples(): Promise<void> {
    const device = this.device;
    if (this.disposed || device === null) return;
    let more = false;
    try {
      const reply = await this.transport.request<SamplesReply>("device_samples",
        { device, since: this.cursor, limit: 2000 });
      if (device !== this.device) return; // another device was picked meanwhile
      this.merge(reply.result.samples);
      this.cursor = reply.result.cursor;
      more = reply.result.more;
      const connected = this.devices.find((d) => d.id === device)?.connected;
      this.statusEl.textContent = `${connected ? "live" : "offline"} · seq ${this.cursor}`;
    } catch (err) {
      this.statusEl.textContent = `paused: ${(err as Error).message}`;
    }
    this.sampleTimer = window.setTimeout(() => void this.pollSamples(), more ? 0 : this.pollMs);
  }

  private merge(fresh: Sample[]): void {
    if (!fresh.length) return;
    for (const s of fresh) {
      if (s.profile) this.profile = s.profile;
      else this.samples.push(s);
    }
    if (this.samples.length > this.window) this.samples.splice(0, this.samples.length - this.window);
    this.el.dataset.lastSeq = String(fresh[fresh.length - 1].seq);
    this.render();
  }

  /** The x of a sample: its own timestamp (ms) when the device sent one, else its sequence number. */
  private timed(): boolean {
    return this.samples.length > 0 && this.samples.every((s) => typeof s.t === "number");
  }

  private render(): void {
    const timed = this.timed();
    const xOf = (s: Sample) => (timed ? s.t! * 1000 : s.seq);
    const markers = this.samples.filter((s) => s.marker).map((s) => ({ xAxis: xOf(s), name: s.marker }));
    this.cpu.draw(this.samples, timed);
    for (const spec of CHARTS) {
      if (spec.key === "cpu") continue;
      const rows = this.samples.map(spec.extract);
      const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      if (!names.some((n) => rows.some((r) => r[n] !== null && r[n] !== undefined))) continue;
      this.chart(spec.key, `${spec.title} (${spec.unit})`).setOption({
        tooltip: { trigger: "axis", confine: true, formatter: (items: AxisItem[]) => axisTooltip(
          timed ? new Date(Number((items[0]?.value as number[] | undefined)?.[0])).toLocaleTimeString()
            : `seq ${(items[0]?.value as number[] | undefined)?.[0] ?? ""}`, items, spec.unit) },
        legend: { type: "scroll", top: 0, left: 0, right: 0 },
        grid: { left: 6, right: 14, top: 28, bottom: 4, containLabel: true },
        xAxis: { type: timed ? "time" : "value", scale: true, axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", axisLabel: { formatter: formatNumber } },
        series: names.map((name, i) => ({
          name, type: "line", showSymbol: false, animation: false, connectNulls: false,
          data: this.samples.map((s, k) => [xOf(s), rows[k][name] ?? null]),
          ...(i === 0 && markers.length ? { markLine: { symbol: "none", data: markers } } : {}),
        })),
      }, { replaceMerge: ["series"] });
    }
    this.renderProfile();
  }

  /** A titled chart box (the title is text above the chart, so no legend can cover it). */
  private chart(key: string, title: string): echarts.ECharts {
    let chart = this.charts.get(key);
    if (!chart) {
      const wrap = document.createElement("div");
      wrap.className = "cv-device-chart-box";
      const head = document.createElement("div");
      head.className = "cv-device-chart-title";
      head.textContent = title;
      const box = document.createElement("div");
      box.className = "cv-device-chart";
      box.dataset.chart = key;
      box.style.height = "180px";
      wrap.append(head, box);
      this.chartsEl.appendChild(wrap);
      const made = echarts.init(box);
      (box as unknown as { cnnvisChart: echarts.ECharts }).cnnvisChart = made; // read by tests
      new ResizeObserver(() => made.resize()).observe(box);
      this.charts.set(key, chart = made);
    }
    return chart;
  }

  /** Per-layer latency of the engine the agent profiles, slowest first. */
  private renderProfile(): void {
    const profile = this.profile;
    if (!profile || !profile.layers.length) return;
    const layers = profile.layers.filter((l) => l.avg_ms !== undefined)
      .sort((a, b) => (b.avg_ms ?? 0) - (a.avg_ms ?? 0)).slice(0, 40);
    const title = this.el.querySelector<HTMLDivElement>(".cv-profile-title")!;
    title.textContent = `${profile.engine ?? "engine"}: per-layer latency (ms)`;
    if (!this.profileChart) {
      const canvas = this.el.querySelector<HTMLDivElement>(".cv-profile-canvas")!;
      canvas.style.height = `${Math.max(160, layers.length * 16)}px`;
      const made = this.profileChart = echarts.init(canvas);
      new ResizeObserver(() => made.resize()).observe(canvas);
    }
    this.profileChart.setOption({
      tooltip: { trigger: "axis", confine: true, formatter: (items: AxisItem[]) =>
        axisTooltip(layers[(items[0] as { dataIndex?: number })?.dataIndex ?? 0]?.name ?? "", items, "ms") },
      grid: { left: 6, right: 24, top: 8, bottom: 4, containLabel: true },
      xAxis: { type: "value", name: "ms" },
      yAxis: { type: "category", inverse: true, data: layers.map((l) => l.name),
        axisLabel: { width: 140, overflow: "truncate" } },
      series: [{ name: "average", type: "bar", animation: false, data: layers.map((l) => l.avg_ms ?? 0) }],
    });
  }

  /** The samples held (the newest `window`) as CSV; the server's `format=csv` export has them all. */
  exportCsv(): void {
    const rows = this.samples.map((s) => CHARTS.reduce((acc, c) => ({ ...acc, ...prefix(c.key, c.extract(s)) }),
      { seq: s.seq, time: s.time ?? (s.t ? new Date(s.t * 1000).toISOString() : null) } as Record<string, Cell>));
    const header = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    downloadText(`${safeName(this.device ?? "device")}.csv`,
      toCsv(header, rows.map((r) => header.map((h) => r[h] ?? null))));
  }
}

function prefix(key: string, values: Record<string, number | null>): Record<string, Cell> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${key}_${k}`, v]));
}
