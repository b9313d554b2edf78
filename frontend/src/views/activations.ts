/** Activations view: one layer's channels as a grid on a canvas, sortable by mean, variance or
 * sparsity, with dead channels marked and per-layer statistics. */
import { Transport } from "../transport/types";
import { COLORMAPS } from "../util/colormap";
import { parseNpy } from "../util/npy";

interface Stats {
  mean: number[];
  variance: number[];
  sparsity: number[];
  max: number[];
  min: number[];
  dead: number[];
}

interface ActivationsResult {
  layer: string;
  index: number;
  shape: number[];
  stats: Stats;
}

type SortKey = "index" | "mean" | "variance" | "sparsity";

export class ActivationsView {
  readonly el: HTMLDivElement;
  private data: { result: ActivationsResult; values: Float32Array } | null = null;
  private order: number[] = [];
  private cell = { size: 0, cols: 0, pad: 2 };
  private readonly canvas: HTMLCanvasElement;
  private readonly statsEl: HTMLDivElement;
  private readonly hoverEl: HTMLDivElement;
  private readonly sortEl: HTMLSelectElement;
  private highlighted: number | null = null;
  /** Called with the layer and channel clicked in the grid (the layer stack links to it). */
  onPick: (layer: string, channel: number) => void = () => {};
  /** Called after a layer's channels were drawn. */
  onLoad: (layer: string, index: number) => void = () => {};

  constructor(private readonly transport: Transport) {
    this.el = document.createElement("div");
    this.el.className = "cv-activations";
    this.el.innerHTML = `<div class="cv-toolbar"><span class="cv-layer">Click a layer in the graph</span>
      <label>Sort <select class="cv-sort"><option value="index">channel</option><option value="mean">mean</option>
      <option value="variance">variance</option><option value="sparsity">sparsity</option></select></label>
      <label>Input <input class="cv-index" type="number" min="0" value="0"></label></div>
      <div class="cv-stats"></div><canvas class="cv-grid" width="0" height="0"></canvas><div class="cv-hover"></div>`;
    this.canvas = this.el.querySelector("canvas")!;
    this.statsEl = this.el.querySelector(".cv-stats")!;
    this.hoverEl = this.el.querySelector(".cv-hover")!;
    this.sortEl = this.el.querySelector(".cv-sort")!;
    this.sortEl.onchange = () => this.render();
    const index = this.el.querySelector(".cv-index") as HTMLInputElement;
    index.onchange = () => { if (this.data) void this.load(this.data.result.layer, Number(index.value)); };
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("click", (e) => {
      const ch = this.channelAt(e);
      if (ch === undefined || !this.data) return;
      this.highlight(ch);
      this.onPick(this.data.result.layer, ch);
    });
  }

  /** The layer shown, if any. */
  get layer(): string | null {
    return this.data?.result.layer ?? null;
  }

  get index(): number {
    return this.data?.result.index ?? 0;
  }

  /** Outlines one channel (null clears); `data-highlight` on the element says which. */
  highlight(channel: number | null): void {
    this.highlighted = channel;
    this.el.dataset.highlight = channel === null ? "" : String(channel);
    this.render();
  }

  async load(layer: string, index = 0): Promise<void> {
    this.el.querySelector(".cv-layer")!.textContent = `${layer} · loading…`;
    this.el.dataset.state = "loading";
    try {
      const reply = await this.transport.request<ActivationsResult>("activations", { layer, index });
      const arr = parseNpy(reply.buffers[0]);
      if (this.data?.result.layer !== layer) this.highlight(null);
      this.data = { result: reply.result, values: Float32Array.from(arr.data as ArrayLike<number>) };
      this.el.querySelector(".cv-layer")!.textContent = `${layer} · ${reply.result.shape.join("×")}`;
      this.render();
      this.el.dataset.state = "ready";
      this.onLoad(layer, index);
    } catch (err) {
      this.el.querySelector(".cv-layer")!.textContent = `${layer}: ${(err as Error).message}`;
      this.el.dataset.state = "error";
    }
  }

  private render(): void {
    if (!this.data) return;
    const { result, values } = this.data;
    const [c, h, w] = result.shape;
    const key = this.sortEl.value as SortKey;
    this.order = Array.from({ length: c }, (_, i) => i);
    if (key !== "index") {
      const v = result.stats[key];
      this.order.sort((a, b) => (key === "sparsity" ? v[a] - v[b] : v[b] - v[a]));
    }
    const width = Math.max(320, this.el.clientWidth - 16 || 640);
    const size = Math.max(24, Math.min(96, Math.floor(width / Math.ceil(Math.sqrt(c * 1.6)))));
    const cols = Math.max(1, Math.floor(width / (size + 2)));
    const rows = Math.ceil(c / cols);
    this.cell = { size, cols, pad: 2 };
    this.canvas.width = cols * (size + 2);
    this.canvas.height = rows * (size + 2);
    const ctx = this.canvas.getContext("2d")!;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const tile = new ImageData(w, h);
    const scratch = document.createElement("canvas");
    scratch.width = w; scratch.height = h;
    const sctx = scratch.getContext("2d")!;
    const cmap = COLORMAPS.viridis;
    const dead = new Set(result.stats.dead);
    ctx.imageSmoothingEnabled = false;
    this.order.forEach((ch, slot) => {
      const lo = result.stats.min[ch], hi = result.stats.max[ch], span = hi - lo || 1;
      for (let p = 0; p < h * w; p++) {
        const t = Math.round(255 * (values[ch * h * w + p] - lo) / span) | 0;
        const k = 3 * Math.min(255, Math.max(0, t));
        tile.data[4 * p] = cmap[k]; tile.data[4 * p + 1] = cmap[k + 1]; tile.data[4 * p + 2] = cmap[k + 2];
        tile.data[4 * p + 3] = 255;
      }
      sctx.putImageData(tile, 0, 0);
      const x = (slot % cols) * (size + 2), y = Math.floor(slot / cols) * (size + 2);
      ctx.drawImage(scratch, x, y, size, size);
      if (dead.has(ch)) this.markDead(ctx, x, y, size);
    });
    const slot = this.highlighted === null ? -1 : this.order.indexOf(this.highlighted);
    if (slot >= 0) {
      ctx.strokeStyle = "#ff1744";
      ctx.lineWidth = 3;
      ctx.strokeRect((slot % cols) * (size + 2) + 1.5, Math.floor(slot / cols) * (size + 2) + 1.5, size - 1, size - 1);
    }
    this.renderStats(result);
  }

  private markDead(ctx: CanvasRenderingContext2D, x: number, y: number, size: number): void {
    ctx.fillStyle = "rgba(40,40,40,0.75)";
    ctx.fillRect(x, y, size, size);
    ctx.strokeStyle = "#e5484d";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x + 4, y + 4); ctx.lineTo(x + size - 4, y + size - 4);
    ctx.moveTo(x + size - 4, y + 4); ctx.lineTo(x + 4, y + size - 4);
    ctx.stroke();
  }

  private renderStats(result: ActivationsResult): void {
    const s = result.stats;
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    const items: [string, string][] = [
      ["channels", String(result.shape[0])], ["size", `${result.shape[1]}×${result.shape[2]}`],
      ["mean", mean(s.mean).toPrecision(3)], ["mean variance", mean(s.variance).toPrecision(3)],
      ["sparsity", `${(100 * mean(s.sparsity)).toFixed(1)} %`],
      ["dead", `${s.dead.length} (${(100 * s.dead.length / Math.max(1, result.shape[0])).toFixed(1)} %)`],
      ["range", `${Math.min(...s.min).toPrecision(3)} … ${Math.max(...s.max).toPrecision(3)}`],
    ];
    this.statsEl.innerHTML = "";
    for (const [k, v] of items) {
      const span = document.createElement("span");
      span.innerHTML = "<b></b> ";
      span.firstChild!.textContent = k;
      span.appendChild(document.createTextNode(v));
      this.statsEl.appendChild(span);
    }
  }

  private channelAt(event: MouseEvent): number | undefined {
    const rect = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / rect.width;
    const step = this.cell.size + this.cell.pad;
    const col = Math.floor(((event.clientX - rect.left) * scale) / step);
    const row = Math.floor(((event.clientY - rect.top) * scale) / step);
    return col >= this.cell.cols ? undefined : this.order[row * this.cell.cols + col];
  }

  private hover(event: MouseEvent): void {
    if (!this.data) return;
    const ch = this.channelAt(event);
    if (ch === undefined) { this.hoverEl.textContent = ""; return; }
    const s = this.data.result.stats;
    this.hoverEl.textContent = `channel ${ch}: mean ${s.mean[ch].toPrecision(3)}, variance ${s.variance[ch].toPrecision(3)}, `
      + `sparsity ${(100 * s.sparsity[ch]).toFixed(1)} %, max ${s.max[ch].toPrecision(3)}${s.dead.includes(ch) ? " · dead" : ""}`;
  }
}
