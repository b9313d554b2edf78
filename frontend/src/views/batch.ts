/** Batch results view: the rows of a `cnnvis batch` run, one gallery per explained class, worst
 * faithfulness first (deletion AUC highest first; insertion AUC lowest first), each with its map.
 *
 * It speaks only the message protocol (request kind `batch_results`), so it runs on any transport.
 * Runs store maps but not images, so each thumbnail is the map alone, coloured by the server. */
import { Transport } from "../transport/types";

interface Row {
  key: string; index: number; target: number; label: number | null; score: number | null;
  thumbnail?: number | null; [metric: string]: unknown;
}
interface Group { class: number; count: number; rows: Row[] }
export interface BatchReply {
  dir: string; methods: string[]; method: string | null; metrics: string[]; metric: string | null;
  worst: string | null; order: string; classes: number[]; groups: Group[]; failed: number; thumbnail: string;
}

const ALL = "";

export class BatchView {
  readonly el: HTMLDivElement;
  reply: BatchReply | null = null;
  private urls: string[] = [];
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(private readonly transport: Transport, readonly dir: string, private readonly limit = 24) {
    this.el = document.createElement("div");
    this.el.className = "cv-batch";
    this.el.innerHTML = `<div class="cv-toolbar">
        <label>Method <select class="cv-batch-method"></select></label>
        <label>Class <select class="cv-batch-class"></select></label>
        <label>Order <select class="cv-batch-metric"></select></label>
        <button type="button" class="cv-refresh">Refresh</button></div>
      <div class="cv-info cv-batch-order"></div>
      <div class="cv-batch-groups"></div>`;
    const reload = () => void this.start();
    for (const s of [".cv-batch-method", ".cv-batch-class", ".cv-batch-metric"]) this.q<HTMLSelectElement>(s).onchange = reload;
    this.q<HTMLButtonElement>(".cv-refresh").onclick = reload;
  }

  async start(): Promise<void> {
    this.el.dataset.state = "loading";
    const args: Record<string, unknown> = { dir: this.dir, limit: this.limit };
    const method = this.q<HTMLSelectElement>(".cv-batch-method").value;
    const picked = this.q<HTMLSelectElement>(".cv-batch-class").value;
    const metric = this.q<HTMLSelectElement>(".cv-batch-metric").value;
    if (method) args.method = method;
    if (picked !== ALL) args.class = Number(picked);
    if (metric) args.metric = metric;
    try {
      const reply = await this.transport.request<BatchReply>("batch_results", args);
      this.render(reply.result, reply.buffers);
      this.el.dataset.state = "ready";
    } catch (err) {
      this.q(".cv-batch-order").textContent = (err as Error).message;
      this.el.dataset.state = "error";
    }
  }

  dispose(): void {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }

  private render(result: BatchReply, buffers: ArrayBuffer[]): void {
    this.reply = result;
    fill(this.q(".cv-batch-method"), result.methods.map((m) => [m, m]), result.method ?? "");
    const classSelect = this.q<HTMLSelectElement>(".cv-batch-class");
    fill(classSelect, [[ALL, "all"], ...result.classes.map((c): [string, string] => [String(c), String(c)])],
      classSelect.value || ALL);
    fill(this.q(".cv-batch-metric"), result.metrics.map((m) => [m, `${m} AUC, worst first`]), result.metric ?? "");
    const failed = result.failed ? ` ${result.failed} item(s) failed.` : "";
    this.q(".cv-batch-order").textContent = `Sorted by ${result.order}. Thumbnails: ${result.thumbnail}.${failed}`;
    this.dispose();
    this.urls = buffers.map((b) => URL.createObjectURL(new Blob([b], { type: "image/png" })));
    this.q(".cv-batch-groups").replaceChildren(...result.groups.map((g) => this.group(g, result.metric)));
    this.el.dataset.groups = String(result.groups.length);
  }

  private group(group: Group, metric: string | null): HTMLElement {
    const section = document.createElement("section");
    section.className = "cv-batch-group";
    section.dataset.class = String(group.class);
    const title = document.createElement("div");
    title.className = "cv-panel-title";
    title.textContent = `Class ${group.class}: ${group.count} item(s)` +
      (group.rows.length < group.count ? `, the ${group.rows.length} worst shown` : "");
    const grid = document.createElement("div");
    grid.className = "cv-batch-grid";
    grid.replaceChildren(...group.rows.map((row) => this.tile(row, metric)));
    section.append(title, grid);
    return section;
  }

  private tile(row: Row, metric: string | null): HTMLElement {
    const tile = document.createElement("figure");
    tile.className = "cv-batch-tile";
    tile.dataset.key = row.key;
    const value = metric ? (row[metric] as number | null) : null;
    if (value !== null && value !== undefined) tile.dataset.metric = String(value);
    if (row.thumbnail !== null && row.thumbnail !== undefined) {
      const img = document.createElement("img");
      img.src = this.urls[row.thumbnail];
      img.alt = `map of ${row.key}`;
      tile.appendChild(img);
    }
    const caption = document.createElement("figcaption");
    const parts = [row.key, `score ${fmt(row.score)}`];
    if (metric) parts.push(`${metric} ${fmt(value)}`);
    if (row.label !== null && row.label !== undefined) parts.push(`label ${row.label}`);
    caption.textContent = parts.join(" · ");
    tile.appendChild(caption);
    return tile;
  }
}

function fill(select: HTMLSelectElement, options: [string, string][], value: string): void {
  select.replaceChildren(...options.map(([v, text]) => new Option(text, v)));
  select.value = value;
}

function fmt(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : value.toFixed(3);
}
