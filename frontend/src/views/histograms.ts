/** Histograms over steps (weights, gradients): TensorBoard's "offset" view, one ridge per step,
 * oldest at the back, drawn on a canvas (a few hundred polylines need no chart library). */
import { Transport } from "../transport/types";
import { Cell, exportButtons, toCsv } from "./export";

interface TagInfo { tag: string; count: number; last_step: number }
interface HistData {
  run: string; tag: string; total: number; steps: number[];
  edges: (number | string)[][]; counts: (number | string)[][];
}

const num = (v: number | string): number => (typeof v === "number" ? v : Number(v));

export class HistogramsView {
  readonly el: HTMLDivElement;
  private readonly select: HTMLSelectElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly info: HTMLSpanElement;
  private data: HistData | null = null;

  constructor(private readonly transport: Transport, private readonly logdir: string) {
    this.el = document.createElement("div");
    this.el.className = "cv-histograms";
    this.el.innerHTML = `<div class="cv-toolbar"><label>Histogram <select class="cv-hist-tag"></select></label>
      <button type="button" class="cv-refresh">Refresh</button><span class="cv-info"></span></div>
      <canvas class="cv-hist-canvas" width="640" height="320"></canvas>`;
    this.select = this.el.querySelector("select")!;
    this.canvas = this.el.querySelector("canvas")!;
    this.info = this.el.querySelector(".cv-info")!;
    this.select.onchange = () => void this.loadSelected();
    // Redrawn at the panel's width whenever that changes (not on height changes: drawing sets it).
    let drawnWidth = 0;
    new ResizeObserver(() => {
      if (this.el.clientWidth && this.el.clientWidth !== drawnWidth) { drawnWidth = this.el.clientWidth; this.draw(); }
    }).observe(this.el);
    this.el.querySelector<HTMLButtonElement>(".cv-refresh")!.onclick = () => void this.start();
    this.el.querySelector(".cv-toolbar")!.appendChild(exportButtons({
      name: () => `${this.data?.run ?? "run"}_${this.data?.tag ?? "histogram"}`,
      csv: () => this.csv(), png: () => this.canvas.toDataURL("image/png"),
    }));
  }

  /** Lists the histogram tags, then draws the selected (or first) one. */
  async start(): Promise<void> {
    this.el.dataset.state = "loading";
    try {
      const reply = await this.transport.request<{ runs: { run: string; tags: TagInfo[] }[] }>(
        "histograms", { logdir: this.logdir });
      const previous = this.select.value;
      this.select.replaceChildren();
      for (const { run, tags } of reply.result.runs) {
        for (const t of tags) {
          const option = document.createElement("option");
          option.value = JSON.stringify([run, t.tag]);
          option.textContent = `${run} · ${t.tag} (${t.count})`;
          this.select.appendChild(option);
        }
      }
      if (previous && [...this.select.options].some((o) => o.value === previous)) this.select.value = previous;
      if (!this.select.options.length) {
        this.info.textContent = "No histograms in this logdir (TorchLogger.log_model or add_histogram writes them).";
        this.el.dataset.state = "empty";
        return;
      }
      await this.loadSelected();
    } catch (err) {
      this.info.textContent = (err as Error).message;
      this.el.dataset.state = "error";
    }
  }

  private async loadSelected(): Promise<void> {
    const [run, tag] = JSON.parse(this.select.value) as [string, string];
    this.el.dataset.state = "loading";
    const reply = await this.transport.request<HistData>("histograms", { logdir: this.logdir, run, tag });
    this.data = reply.result;
    this.info.textContent = `${this.data.steps.length} of ${this.data.total} steps`;
    this.draw();
    this.el.dataset.state = "ready";
    this.el.dataset.steps = String(this.data.steps.length);
  }

  private draw(): void {
    const d = this.data;
    if (!d) return;
    const width = Math.max(200, this.el.clientWidth - 8 || 640);
    const n = d.steps.length;
    const ridge = 60, offset = Math.max(2, Math.min(10, 240 / Math.max(1, n)));
    const height = ridge + offset * (n - 1) + 40;
    this.canvas.width = width; this.canvas.height = height;
    const ctx = this.canvas.getContext("2d")!;
    const style = getComputedStyle(this.el);
    ctx.clearRect(0, 0, width, height);
    let lo = Infinity, hi = -Infinity, peak = 0;
    const dens: number[][] = d.counts.map((c, i) => c.map((v, k) => {
      const w = num(d.edges[i][k + 1]) - num(d.edges[i][k]);
      return w > 0 ? num(v) / w : 0;
    }));
    d.edges.forEach((e) => e.forEach((v) => { const x = num(v); if (Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); } }));
    dens.forEach((row) => row.forEach((v) => { if (Number.isFinite(v)) peak = Math.max(peak, v); }));
    if (!(hi > lo) || !(peak > 0)) return;
    const left = 50, right = width - 60;
    const sx = (x: number) => left + (x - lo) / (hi - lo) * (right - left);
    // Oldest first, so newer ridges paint over older ones, as in TensorBoard's offset mode.
    for (let i = 0; i < n; i++) {
      const base = ridge + 10 + offset * i;
      const t = n > 1 ? i / (n - 1) : 1;
      ctx.beginPath();
      ctx.moveTo(sx(num(d.edges[i][0])), base);
      dens[i].forEach((v, k) => {
        const y = base - (v / peak) * ridge;
        ctx.lineTo(sx(num(d.edges[i][k])), y);
        ctx.lineTo(sx(num(d.edges[i][k + 1])), y);
      });
      ctx.lineTo(sx(num(d.edges[i][d.edges[i].length - 1])), base);
      ctx.fillStyle = `hsla(${25 - 25 * t}, 85%, ${75 - 35 * t}%, 0.85)`;
      ctx.strokeStyle = style.getPropertyValue("--cv-bg") || "#fff";
      ctx.fill(); ctx.stroke();
      if (i === 0 || i === n - 1 || i % Math.ceil(n / 6) === 0) {
        ctx.fillStyle = style.color || "#333";
        ctx.font = "10px sans-serif";
        ctx.fillText(`step ${d.steps[i]}`, right + 4, base);
      }
    }
    ctx.fillStyle = style.color || "#333";
    ctx.font = "10px sans-serif";
    ctx.fillText(lo.toPrecision(3), left, height - 8);
    ctx.fillText(hi.toPrecision(3), right - 30, height - 8);
  }

  private csv(): string {
    const d = this.data;
    const rows: Cell[][] = [];
    d?.steps.forEach((s, i) => d.counts[i].forEach((c, k) => rows.push([s, num(d.edges[i][k]), num(d.edges[i][k + 1]), num(c)])));
    return toCsv(["step", "left", "right", "count"], rows);
  }
}
