/** Explain view: the input with its CAM overlay, method and target pickers (top-k classes with
 * scores and names), several methods side by side, and an opacity slider that re-blends the raw
 * maps in the browser. Long methods (ScoreCAM) show progress and can be cancelled. */
import { CancelledError, Transport } from "../transport/types";
import { COLORMAPS } from "../util/colormap";
import { NdArray, parseNpy } from "../util/npy";
import { EvidenceView } from "./evidence";
import { Picked, Structured, drawStructure, isStructured, parsePicked, targetOptions, targetSummary } from "./targets";

interface TopK { index: number; name: string; score: number }

interface ExplainResult extends Structured {
  method: string;
  layer: string;
  targets: number[] | null;
  target_names: string[] | null;
  top_k: TopK[][];
  shape: number[];
}

interface Panel {
  method: string;
  el: HTMLDivElement;
  canvas: HTMLCanvasElement;
  result?: ExplainResult;
  maps?: NdArray;
  images?: NdArray;
  labels?: NdArray; // segmentation: the predicted class per pixel
}

export interface ExplainState {
  methods: string[];
  method: string;
  target: number | null;
  layer: string | null;
}

export class ExplainView {
  readonly el: HTMLDivElement;
  private panels: Panel[] = [];
  private index = 0;
  private picked: Picked = null; // a detected box or segmentation class, instead of state.target
  private controller: AbortController | null = null;
  readonly evidence: EvidenceView;
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(private readonly transport: Transport, private state: ExplainState,
              private readonly onChange: (s: ExplainState) => void = () => {}) {
    this.el = document.createElement("div");
    this.el.className = "cv-explain";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Method <select class="cv-method"></select></label>
      <label>Target <select class="cv-target"><option value="">top class</option></select></label>
      <label class="cv-boxes-label" hidden><input class="cv-boxes" type="checkbox" checked> boxes</label>
      <label class="cv-input-label">Input <select class="cv-input"></select></label>
      <label>Opacity <input class="cv-alpha" type="range" min="0" max="1" step="0.05" value="0.5"></label>
      <span class="cv-layer-info"></span></div>
      <div class="cv-toolbar"><span>Compare:</span><span class="cv-compare"></span>
      <button class="cv-run-compare" type="button">Compare</button></div>
      <div class="cv-progress" hidden><progress max="1" value="0"></progress><span class="cv-progress-text"></span>
      <button class="cv-cancel" type="button">Cancel</button></div>
      <div class="cv-error" hidden></div><div class="cv-panels"></div><div class="cv-topk"></div>`;
    this.q<HTMLButtonElement>(".cv-cancel").onclick = () => this.controller?.abort();
    this.q<HTMLInputElement>(".cv-alpha").oninput = () => this.panels.forEach((p) => this.paint(p));
    this.q<HTMLInputElement>(".cv-boxes").onchange = () => this.panels.forEach((p) => this.paint(p));
    this.q<HTMLSelectElement>(".cv-method").onchange = (e) => {
      this.state.method = (e.target as HTMLSelectElement).value;
      void this.run([this.state.method]);
    };
    this.q<HTMLSelectElement>(".cv-target").onchange = (e) => {
      const v = (e.target as HTMLSelectElement).value;
      this.picked = parsePicked(v);
      this.state.target = v === "" || this.picked ? null : Number(v);
      void this.run(this.panels.map((p) => p.method));
    };
    this.q<HTMLSelectElement>(".cv-input").onchange = (e) => {
      this.index = Number((e.target as HTMLSelectElement).value);
      this.evidence.clear();
      this.panels.forEach((p) => this.paint(p));
      this.renderTargets();
    };
    this.q<HTMLButtonElement>(".cv-run-compare").onclick = () => {
      const picked = [...this.el.querySelectorAll<HTMLInputElement>(".cv-compare input:checked")].map((i) => i.value);
      void this.run(picked.length ? picked : [this.state.method]);
    };
    this.setMethods(state.methods);
    // The evidence is about the map on screen: the first panel's method, target and layer, this input.
    this.evidence = new EvidenceView(transport, () => ({
      method: this.panels[0]?.result?.method ?? this.state.method, target: this.state.target,
      layer: this.panels[0]?.result?.layer ?? this.state.layer, indices: [this.index],
    }));
    this.el.appendChild(this.evidence.el);
  }

  setMethods(methods: string[]): void {
    this.state.methods = methods;
    const select = this.q<HTMLSelectElement>(".cv-method");
    select.innerHTML = "";
    const compare = this.q<HTMLSpanElement>(".cv-compare");
    compare.innerHTML = "";
    for (const m of methods) {
      select.add(new Option(m, m, false, m === this.state.method));
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox"> `;
      const box = label.firstChild as HTMLInputElement;
      box.value = m;
      box.checked = m === this.state.method;
      label.appendChild(document.createTextNode(m));
      compare.appendChild(label);
    }
  }

  setLayer(layer: string | null): void {
    this.state.layer = layer;
    void this.run(this.panels.length ? this.panels.map((p) => p.method) : [this.state.method]);
  }

  /** Computes one panel per method, one after the other; a new run cancels the previous one. */
  async run(methods: string[]): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const container = this.q<HTMLDivElement>(".cv-panels");
    container.innerHTML = "";
    this.panels = methods.map((method) => this.makePanel(method));
    this.panels.forEach((p) => container.appendChild(p.el));
    this.q<HTMLDivElement>(".cv-error").hidden = true;
    this.evidence.clear();
    this.el.dataset.state = "loading";
    try {
      for (const panel of this.panels) {
        await this.compute(panel, controller.signal);
        if (controller.signal.aborted) return;
      }
      this.el.dataset.state = "ready";
    } catch (err) {
      if (this.controller !== controller) return; // superseded by a newer run
      const box = this.q<HTMLDivElement>(".cv-error");
      box.hidden = false;
      box.textContent = err instanceof CancelledError ? "Cancelled." : (err as Error).message;
      this.el.dataset.state = err instanceof CancelledError ? "cancelled" : "error";
    } finally {
      if (this.controller === controller) this.q<HTMLDivElement>(".cv-progress").hidden = true;
    }
    this.onChange(this.state);
  }

  private makePanel(method: string): Panel {
    const el = document.createElement("div");
    el.className = "cv-panel";
    el.innerHTML = `<div class="cv-panel-title"></div><canvas class="cv-cam"></canvas>`;
    el.querySelector(".cv-panel-title")!.textContent = `${method} · computing…`;
    const canvas = el.querySelector("canvas")!;
    canvas.dataset.method = method;
    return { method, el, canvas };
  }

  private async compute(panel: Panel, signal: AbortSignal): Promise<void> {
    const progress = this.q<HTMLDivElement>(".cv-progress");
    const bar = progress.querySelector("progress")!;
    const text = this.q<HTMLSpanElement>(".cv-progress-text");
    const args: Record<string, unknown> = { method: panel.method, target: this.picked ?? this.state.target, top_k: 5 };
    if (this.state.layer) args.layer = this.state.layer;
    const reply = await this.transport.request<ExplainResult>("explain", args, [], {
      signal,
      onProgress: (p) => {
        progress.hidden = false;
        bar.max = p.total || 1; bar.value = p.done;
        text.textContent = `${panel.method}: ${p.done} / ${p.total}`;
      },
    });
    const n = reply.result.shape[0];
    panel.result = reply.result;
    panel.maps = parseNpy(reply.buffers[n + 1]);
    panel.images = parseNpy(reply.buffers[n + 2]);
    if (reply.result.output_kind === "segmentation") panel.labels = parseNpy(reply.buffers[n + 3]);
    panel.el.querySelector(".cv-panel-title")!.textContent = `${reply.result.method} · ${reply.result.layer}`;
    this.q<HTMLSpanElement>(".cv-layer-info").textContent = `CAM layer: ${reply.result.layer}`;
    this.paint(panel);
    this.renderInputs(n);
    this.renderTargets();
  }

  /** Blends the map over the image at the slider's opacity (jet, as the server's overlays). */
  private paint(panel: Panel): void {
    if (!panel.maps || !panel.images) return;
    const [, h, w] = panel.maps.shape;
    const i = Math.min(this.index, panel.maps.shape[0] - 1);
    const alpha = Number(this.q<HTMLInputElement>(".cv-alpha").value);
    const image = new ImageData(w, h);
    const maps = panel.maps.data as Float32Array, pixels = panel.images.data as Uint8Array;
    const jet = COLORMAPS.jet;
    const channels = panel.images.shape[3] ?? 1;
    for (let p = 0; p < h * w; p++) {
      const k = 3 * Math.min(255, Math.max(0, Math.round(255 * maps[i * h * w + p])));
      for (let c = 0; c < 3; c++) {
        const base = pixels[(i * h * w + p) * channels + (channels === 3 ? c : 0)];
        image.data[4 * p + c] = Math.round((1 - alpha) * base + alpha * jet[k + c]);
      }
      image.data[4 * p + 3] = 255;
    }
    panel.canvas.width = w; panel.canvas.height = h;
    panel.canvas.getContext("2d")!.putImageData(image, 0, 0);
    if (panel.result && isStructured(panel.result)) {
      drawStructure(panel.canvas, panel.result, i, panel.labels, this.q<HTMLInputElement>(".cv-boxes").checked);
    }
    const display = Math.max(160, Math.min(320, 4 * w));
    panel.canvas.style.width = `${display}px`;
    panel.canvas.style.height = `${Math.round(display * h / w)}px`;
  }

  private renderInputs(n: number): void {
    const select = this.q<HTMLSelectElement>(".cv-input");
    if (select.options.length === n) return;
    select.innerHTML = "";
    for (let i = 0; i < n; i++) select.add(new Option(String(i), String(i), false, i === this.index));
    this.q<HTMLLabelElement>(".cv-input-label").hidden = n < 2;
  }

  /** The target picker lists the current input's top-k classes with scores and names. */
  private renderTargets(): void {
    const result = this.panels.find((p) => p.result)?.result;
    if (!result) return;
    const select = this.q<HTMLSelectElement>(".cv-target");
    this.q<HTMLLabelElement>(".cv-boxes-label").hidden = result.output_kind !== "detection";
    if (isStructured(result)) { // boxes or classes to pick from, not a class ranking
      select.replaceChildren(...targetOptions(result, this.index, this.picked));
      this.q<HTMLDivElement>(".cv-topk").textContent = targetSummary(result, this.index);
      return;
    }
    const rows = result.top_k[Math.min(this.index, result.top_k.length - 1)] ?? [];
    select.innerHTML = "";
    select.add(new Option("top class", "", false, this.state.target === null));
    const listed = new Set<number>();
    for (const r of rows) {
      listed.add(r.index);
      select.add(new Option(`${r.name} (${r.index}) · ${r.score.toFixed(2)}`, String(r.index), false, r.index === this.state.target));
    }
    if (this.state.target !== null && !listed.has(this.state.target)) {
      select.add(new Option(`class ${this.state.target}`, String(this.state.target), false, true));
    }
    const list = this.q<HTMLDivElement>(".cv-topk");
    list.textContent = `Top classes: ${rows.map((r) => `${r.name} ${r.score.toFixed(2)}`).join(" · ")}`;
  }
}
