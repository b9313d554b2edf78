/** The panel's first view: what is under the server's root — logdirs, model files, TensorRT exports,
 * batch results — from the server's cached scan (`browse`), the running kernels, and the recent
 * items; one click opens any of them. What was opened last is remembered in the browser
 * (localStorage), so a reload brings it back. Every name is set as text. */
import { Transport } from "../transport/types";
import { KernelEntry, PanelKernels } from "./sources";

export type OpenKind = "logdir" | "model" | "batch";
type ItemKind = "logdir" | "model" | "tensorrt" | "batch";

export interface BrowseItem { path: string; name: string; kind: ItemKind; mtime: number; size: number | null }
interface Listing { items: BrowseItem[]; truncated: boolean; scanning: boolean }
export interface Recent { kind: OpenKind; path: string }

const SECTIONS: { kind: ItemKind; title: string }[] = [
  { kind: "logdir", title: "Logdirs" }, { kind: "model", title: "Model files" },
  { kind: "tensorrt", title: "TensorRT exports" }, { kind: "batch", title: "Batch results" },
];
const RECENT_MAX = 8;
const RESCAN_TRIES = 20;

/** Recent items and the last one opened, kept in localStorage (per server origin, per base URL). */
export class PanelMemory {
  constructor(private readonly key: string) {}

  recents(): Recent[] {
    try {
      const value = JSON.parse(window.localStorage.getItem(this.key) ?? "[]");
      return Array.isArray(value) ? value.filter((r) => typeof r?.path === "string"
        && ["logdir", "model", "batch"].includes(r?.kind)).slice(0, RECENT_MAX) : [];
    } catch {
      return []; // storage disabled or a foreign value: start afresh
    }
  }

  last(): Recent | null {
    return this.recents()[0] ?? null;
  }

  remember(kind: OpenKind, path: string): void {
    const next = [{ kind, path }, ...this.recents().filter((r) => r.kind !== kind || r.path !== path)];
    try {
      window.localStorage.setItem(this.key, JSON.stringify(next.slice(0, RECENT_MAX)));
    } catch { /* storage full or disabled: nothing is remembered, nothing breaks */ }
  }
}

export class BrowseList {
  readonly el: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly info: HTMLSpanElement;
  private readonly filter: HTMLInputElement;
  private listing: Listing | null = null;
  private kernelEntries: KernelEntry[] = [];
  private tries = 0;
  private timer = 0;

  constructor(private readonly server: Transport | null, private readonly kernels: PanelKernels | null,
              private readonly memory: PanelMemory, private readonly open: (kind: OpenKind, path: string) => void,
              private readonly connect: (kernel: string) => void) {
    this.el = document.createElement("div");
    this.el.className = "cv-browse";
    const bar = document.createElement("div");
    bar.className = "cv-toolbar";
    this.filter = document.createElement("input");
    this.filter.className = "cv-browse-filter";
    this.filter.type = "search";
    this.filter.placeholder = "filter";
    this.filter.oninput = () => this.render();
    const refresh = document.createElement("button");
    refresh.type = "button";
    refresh.className = "cv-browse-refresh";
    refresh.textContent = "Refresh";
    refresh.onclick = () => void this.refresh(true);
    this.info = document.createElement("span");
    this.info.className = "cv-info";
    bar.append(this.filter, refresh, this.info);
    const hint = document.createElement("div");
    hint.className = "cv-note cv-browse-hint";
    hint.textContent = "What is under the server's root, one click to open. Or right-click a file or folder in "
      + "the file browser: Open in CNN Vis.";
    this.list = document.createElement("div");
    this.list.className = "cv-browse-list";
    this.el.append(hint, bar, this.list);
  }

  /** Asks the server (again, with `force`) and lists what it found; polls while it still scans. */
  async refresh(force = false): Promise<void> {
    window.clearTimeout(this.timer);
    this.el.dataset.state = "loading";
    this.info.textContent = "Scanning…";
    const kernels = this.kernels?.list().catch(() => []) ?? Promise.resolve([]);
    try {
      if (this.server) {
        const reply = await this.server.request<Listing>("browse", force ? { refresh: 1 } : {});
        this.listing = reply.result;
      }
      this.info.textContent = this.listing?.scanning ? "Scanning…" : this.listing?.truncated
        ? "Only part of the root was scanned (it is large): use the filter or the file browser." : "";
    } catch (err) {
      this.info.textContent = `The server could not list its root: ${(err as Error).message}`;
    }
    this.kernelEntries = await kernels;
    this.render();
    this.el.dataset.state = "ready";
    if (this.listing?.scanning && this.tries++ < RESCAN_TRIES) {
      this.timer = window.setTimeout(() => void this.refresh(false), 1500);
    } else {
      this.tries = 0;
    }
  }

  dispose(): void {
    window.clearTimeout(this.timer);
  }

  render(): void {
    const needle = this.filter.value.trim().toLowerCase();
    const match = (path: string) => !needle || path.toLowerCase().includes(needle);
    const sections: HTMLElement[] = [];
    const recents = this.memory.recents().filter((r) => match(r.path));
    if (recents.length) {
      sections.push(this.section("recent", "Recent", recents.map((r) =>
        this.item(r.kind, r.path, r.path, () => this.open(r.kind, r.path)))));
    }
    for (const { kind, title } of SECTIONS) {
      const items = (this.listing?.items ?? []).filter((i) => i.kind === kind && match(i.path));
      if (!items.length) continue;
      sections.push(this.section(kind, title, items.map((i) => this.item(kind, i.path, i.name,
        () => this.open(kind === "tensorrt" ? "model" : kind as OpenKind, i.path)))));
    }
    const kernels = this.kernelEntries.filter((k) => match(k.label));
    if (kernels.length) {
      sections.push(this.section("kernel", "Running kernels", kernels.map((k) =>
        this.item("kernel", k.id, k.label, () => this.connect(k.id)))));
    }
    if (!sections.length && this.el.dataset.state !== "loading") {
      const empty = document.createElement("div");
      empty.className = "cv-note";
      empty.textContent = needle ? "Nothing matches the filter."
        : "No logdirs, model files, TensorRT exports or batch results under the server's root yet.";
      sections.push(empty);
    }
    this.list.replaceChildren(...sections);
  }

  private section(kind: string, title: string, items: HTMLElement[]): HTMLElement {
    const box = document.createElement("section");
    box.className = "cv-browse-section";
    box.dataset.kind = kind;
    const head = document.createElement("div");
    head.className = "cv-browse-title";
    head.textContent = `${title} (${items.length})`;
    box.append(head, ...items);
    return box;
  }

  private item(kind: string, path: string, name: string, open: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "cv-browse-item";
    b.dataset.kind = kind;
    b.dataset.path = path;
    b.title = path;
    const label = document.createElement("span");
    label.className = "cv-browse-name";
    label.textContent = name;
    const where = document.createElement("span");
    where.className = "cv-browse-path";
    const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    where.textContent = kind === "kernel" || !folder || name === path ? "" : folder;
    b.append(label, where);
    b.onclick = open;
    return b;
  }
}
