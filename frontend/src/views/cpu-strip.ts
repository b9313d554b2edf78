/** Per-core CPU load of a device as a compact heat strip: one row per core, one column per sample,
 * colour = load (viridis, 0-100 %). Twelve cores read at a glance where twelve lines tangle. The
 * pointer's core, time and load show in the strip's title (plain text). */
import { COLORMAPS } from "../util/colormap";

interface CpuSample { seq: number; t: number | null; cpu?: ({ load: number | null } | null)[] }

const ROW_PX = 6;

export class CpuStrip {
  readonly el: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly range: HTMLDivElement;
  private samples: CpuSample[] = [];
  private timed = false;

  constructor() {
    this.el = document.createElement("div");
    this.el.className = "cv-device-chart-box cv-cpu";
    this.el.dataset.chart = "cpu";
    this.el.hidden = true;
    const title = document.createElement("div");
    title.className = "cv-device-chart-title";
    title.textContent = "CPU load per core (%, one row per core)";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "cv-cpu-strip";
    this.range = document.createElement("div");
    this.range.className = "cv-info cv-cpu-range";
    this.el.append(title, this.canvas, this.range);
    this.canvas.onmousemove = (e) => this.hover(e);
    new ResizeObserver(() => this.paint()).observe(this.el);
  }

  draw(samples: CpuSample[], timed: boolean): void {
    this.samples = samples;
    this.timed = timed;
    this.paint();
  }

  private cores(): number {
    return Math.max(0, ...this.samples.map((s) => s.cpu?.length ?? 0));
  }

  private label(s: CpuSample): string {
    return this.timed && s.t ? new Date(s.t * 1000).toLocaleTimeString() : `seq ${s.seq}`;
  }

  private paint(): void {
    const cores = this.cores();
    this.el.hidden = cores === 0;
    if (!cores) return;
    const n = this.samples.length;
    // One canvas pixel per sample and ROW_PX per core; CSS stretches it to the box's width.
    this.canvas.width = n;
    this.canvas.height = cores * ROW_PX;
    this.canvas.style.height = `${cores * ROW_PX}px`;
    const ctx = this.canvas.getContext("2d")!;
    const image = ctx.createImageData(n, cores * ROW_PX);
    const map = COLORMAPS.viridis;
    this.samples.forEach((s, x) => {
      for (let c = 0; c < cores; c++) {
        const load = s.cpu?.[c]?.load;
        const k = typeof load === "number" ? Math.round(2.55 * Math.min(100, Math.max(0, load))) : -1;
        for (let r = 0; r < ROW_PX; r++) {
          const i = 4 * ((c * ROW_PX + r) * n + x);
          if (k < 0) { image.data[i + 3] = 0; continue; }
          image.data[i] = map[3 * k]; image.data[i + 1] = map[3 * k + 1]; image.data[i + 2] = map[3 * k + 2];
          image.data[i + 3] = r === ROW_PX - 1 ? 160 : 255; // a faint line between cores
        }
      }
    });
    ctx.putImageData(image, 0, 0);
    this.range.textContent = n ? `${this.label(this.samples[0])} – ${this.label(this.samples[n - 1])}` : "";
  }

  private hover(e: MouseEvent): void {
    const box = this.canvas.getBoundingClientRect();
    const n = this.samples.length;
    if (!n || box.width <= 0) return;
    const x = Math.min(n - 1, Math.floor(((e.clientX - box.left) / box.width) * n));
    const core = Math.min(this.cores() - 1, Math.floor(((e.clientY - box.top) / box.height) * this.cores()));
    const load = this.samples[x].cpu?.[core]?.load;
    this.canvas.title = `cpu${core} · ${this.label(this.samples[x])} · ${typeof load === "number" ? `${load}%` : "no data"}`;
  }
}
