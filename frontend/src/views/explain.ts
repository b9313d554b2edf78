/** Explain view: per method, the input, its map and the overlay side by side with a colour bar
 * (explain-figure); pickers for the method, the CAM layer (every addressable layer), the target
 * (top-k classes, or any class typed by index or name), the input (the model's own, or a JPG/PNG
 * picked or dropped), the colour map and the opacity, which re-blend in the browser. Long methods
 * (ScoreCAM) show progress and can be cancelled; an error clears the result it replaces. The method
 * list marks gradient methods (disabled, with the reason, on models without gradients) and the slow
 * ones' forward passes (explain-methods); eigen/aug smoothing switches; a pixel attribution drawn
 * beside the maps (explain-attribution). */
import { CancelledError, Transport } from "../transport/types";
import { NdArray, parseNpy } from "../util/npy";
import { AttributionPanel, attributionPanel, computeAttribution } from "./explain-attribution";
import { EvidenceView } from "./evidence";
import { DEFAULT_ALPHA, FigureCanvases, figureElement, paintColorbar, paintFigure } from "./explain-figure";
import { InputSpec, PreparedImage, parseTarget, prepareImage } from "./explain-input";
import { Picked, Structured, drawStructure, isStructured, parsePicked, targetOptions, targetSummary } from "./targets";
import { COLORMAPS } from "../util/colormap";
import { MethodCatalog, MethodChoices, catalogFromNames } from "./explain-methods";

interface TopK { index: number; name: string; score: number }

interface ExplainResult extends Structured {
  method: string;
  layer: string;
  targets: number[] | null;
  target_names: string[] | null;
  top_k: TopK[][];
  shape: number[];
  device?: string; // where the maps were computed ("cpu", "cuda:0")
}

interface Panel {
  method: string;
  el: HTMLDivElement;
  canvases: FigureCanvases;
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
  eigen_smooth?: boolean;
  aug_smooth?: boolean;
  /** A pixel attribution drawn beside the maps ("" = none). */
  attribution?: string;
}

const UPLOAD = "upload";

export class ExplainView {
  readonly el: HTMLDivElement;
  private panels: Panel[] = [];
  private index = 0;
  private picked: Picked = null; // a detected box or segmentation class, instead of state.target
  private controller: AbortController | null = null;
  private upload: PreparedImage | null = null;
  private classNames: string[] | null = null;
  private inputSpec: InputSpec | null = null;
  private readonly choices = new MethodChoices();
  private attribution: AttributionPanel | null = null;
  readonly evidence: EvidenceView;
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(private readonly transport: Transport, private state: ExplainState,
              private readonly onChange: (s: ExplainState) => void = () => {}) {
    this.el = document.createElement("div");
    this.el.className = "cv-explain";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Method <select class="cv-method"></select></label>
      <label title="Project the weighted activations on their first principal component (less noise)">
        <input class="cv-eigen-smooth" type="checkbox"> eigen smooth</label>
      <label title="Average the maps of flipped and brightened copies of the input (6 passes)">
        <input class="cv-aug-smooth" type="checkbox"> aug smooth</label>
      <label>Pixel attribution <select class="cv-attribution"></select></label>
      <label>Layer <select class="cv-layer"><option value="">default</option></select></label>
      <label>Target <select class="cv-target"><option value="">top class</option></select></label>
      <input class="cv-target-any" type="text" list="" placeholder="class # or name" aria-label="Any class, by index or name">
      <datalist class="cv-class-names"></datalist>
      <label class="cv-boxes-label" hidden><input class="cv-boxes" type="checkbox" checked> boxes</label></div>
      <div class="cv-toolbar">
      <label class="cv-input-label">Input <select class="cv-input"></select></label>
      <label class="cv-image-label" title="Explain your own JPG or PNG (or drop it on the figure)">Image…
        <input class="cv-image-file" type="file" accept="image/png,image/jpeg" hidden></label>
      <label>Colours <select class="cv-colormap"></select></label>
      <label>Opacity <input class="cv-alpha" type="range" min="0" max="1" step="0.05" value="${DEFAULT_ALPHA}"></label>
      <span class="cv-layer-info"></span> <span class="cv-device-info"></span></div>
      <div class="cv-method-note cv-note" hidden></div>
      <div class="cv-toolbar cv-compare-row"><span>Compare:</span><span class="cv-compare"></span>
      <button class="cv-run-compare" type="button">Compare</button></div>
      <div class="cv-progress" hidden><progress max="1" value="0"></progress><span class="cv-progress-text"></span>
      <button class="cv-cancel" type="button">Cancel</button></div>
      <div class="cv-error" hidden></div><div class="cv-panels"></div><div class="cv-topk"></div>`;
    const listId = `cv-classes-${Math.random().toString(36).slice(2)}`;
    this.q<HTMLDataListElement>(".cv-class-names").id = listId;
    this.q<HTMLInputElement>(".cv-target-any").setAttribute("list", listId);
    for (const name of Object.keys(COLORMAPS)) this.q<HTMLSelectElement>(".cv-colormap").add(new Option(name, name));
    this.bind();
    this.setMethods(state.methods);
    // The evidence is about the map on screen: the first panel's method, target and layer, this input.
    this.evidence = new EvidenceView(transport, () => ({
      method: this.panels[0]?.result?.method ?? this.state.method, target: this.state.target,
      layer: this.panels[0]?.result?.layer ?? this.state.layer, indices: [this.index],
    }));
    this.el.appendChild(this.evidence.el);
  }

  private bind(): void {
    const repaint = () => [...this.panels, ...(this.attribution ? [this.attribution] : [])].forEach((p) => this.paint(p));
    this.q<HTMLButtonElement>(".cv-cancel").onclick = () => this.controller?.abort();
    this.q<HTMLInputElement>(".cv-alpha").oninput = repaint;
    this.q<HTMLInputElement>(".cv-boxes").onchange = repaint;
    this.q<HTMLSelectElement>(".cv-colormap").onchange = repaint;
    const smooth = (key: "eigen_smooth" | "aug_smooth", cls: string) => {
      this.q<HTMLInputElement>(cls).onchange = (e) => {
        this.state[key] = (e.target as HTMLInputElement).checked;
        this.renderMethods();
        void this.run(this.methodsShown());
      };
    };
    smooth("eigen_smooth", ".cv-eigen-smooth");
    smooth("aug_smooth", ".cv-aug-smooth");
    this.q<HTMLSelectElement>(".cv-attribution").onchange = (e) => {
      this.state.attribution = (e.target as HTMLSelectElement).value;
      void this.run(this.methodsShown());
    };
    this.q<HTMLSelectElement>(".cv-method").onchange = (e) => {
      this.state.method = (e.target as HTMLSelectElement).value;
      void this.run([this.state.method]);
    };
    this.q<HTMLSelectElement>(".cv-layer").onchange = (e) => this.setLayer((e.target as HTMLSelectElement).value || null);
    this.q<HTMLSelectElement>(".cv-target").onchange = (e) => {
      const v = (e.target as HTMLSelectElement).value;
      this.picked = parsePicked(v);
      this.state.target = v === "" || this.picked ? null : Number(v);
      void this.run(this.methodsShown());
    };
    const any = this.q<HTMLInputElement>(".cv-target-any");
    any.onchange = () => this.setTypedTarget(any.value);
    this.q<HTMLSelectElement>(".cv-input").onchange = (e) => {
      const value = (e.target as HTMLSelectElement).value;
      if (value === UPLOAD) return;
      const fromUpload = this.upload !== null;
      this.upload = null;
      this.index = Number(value);
      this.evidence.setDisabled(null);
      if (fromUpload) { void this.run(this.methodsShown()); return; }
      this.evidence.clear();
      repaint();
      this.renderTargets();
      if (this.attribution) void this.runAttribution(); // computed for the input on screen only
    };
    const file = this.q<HTMLInputElement>(".cv-image-file");
    file.onchange = () => { if (file.files?.[0]) void this.useImage(file.files[0]); file.value = ""; };
    const panels = this.q<HTMLDivElement>(".cv-panels");
    panels.addEventListener("dragover", (e) => { e.preventDefault(); panels.classList.add("cv-drop"); });
    panels.addEventListener("dragleave", () => panels.classList.remove("cv-drop"));
    panels.addEventListener("drop", (e) => {
      e.preventDefault();
      panels.classList.remove("cv-drop");
      const dropped = e.dataTransfer?.files?.[0];
      if (dropped) void this.useImage(dropped);
    });
    this.q<HTMLButtonElement>(".cv-run-compare").onclick = () => {
      const picked = [...this.el.querySelectorAll<HTMLInputElement>(".cv-compare input:checked")].map((i) => i.value);
      void this.run(picked.length ? picked : [this.state.method]);
    };
  }

  private methodsShown(): string[] {
    return this.panels.length ? this.panels.map((p) => p.method) : [this.state.method];
  }

  setMethods(methods: string[]): void {
    this.setCatalog(catalogFromNames(methods));
  }

  /** Every method with its gradient need and cost (the `status` kind's `method_info`). */
  setCatalog(catalog: MethodCatalog): void {
    this.choices.catalog = catalog;
    this.state.methods = catalog.cam.map((m) => m.name);
    this.renderMethods();
  }

  /** Why gradient methods and attributions cannot run here (null: they can), and the framework
   * (guided backprop is PyTorch-only). */
  setGradients(reason: string | null, framework = ""): void {
    this.choices.noGradients = reason;
    this.choices.framework = framework;
    const note = this.q<HTMLDivElement>(".cv-method-note");
    note.hidden = !reason;
    note.textContent = reason ? `Methods marked ∇ need gradients: ${reason}` : "";
    this.renderMethods();
  }

  /** The channel count of a CAM layer (ScoreCAM/AblationCAM run one forward pass per channel). */
  setChannels(channelsOf: (layer: string) => number | null): void {
    this.choices.channelsOf = channelsOf;
    this.renderMethods();
  }

  private renderMethods(): void {
    this.choices.render(this.el, this.state.method, this.state.attribution ?? "", Boolean(this.state.aug_smooth),
      this.layer);
  }

  /** The CAM layer: the one picked, else the one the last maps were computed at (null: not yet known). */
  get layer(): string | null {
    return this.state.layer ?? this.panels.find((p) => p.result)?.result?.layer ?? null;
  }

  /** The CAM layers the dropdown offers (every addressable layer with a spatial output). */
  setLayers(layers: string[]): void {
    const select = this.q<HTMLSelectElement>(".cv-layer");
    select.replaceChildren(new Option("default", ""), ...layers.map((l) => new Option(l, l)));
    select.value = this.state.layer && layers.includes(this.state.layer) ? this.state.layer : "";
  }

  /** Class names for the typed target (the model's metadata, `class_names`, or ImageNet's). */
  setClassNames(names: string[] | null): void {
    this.classNames = names && names.length ? names : null;
    const list = this.q<HTMLDataListElement>(".cv-class-names");
    list.replaceChildren(...(this.classNames ?? []).map((n, i) => new Option(`${i}`, n)));
  }

  /** How a picked image is prepared; without it (no example inputs) no image can be picked. */
  setInputSpec(spec: InputSpec | null): void {
    this.inputSpec = spec;
    this.q<HTMLLabelElement>(".cv-image-label").hidden = !spec;
  }

  setLayer(layer: string | null): void {
    this.state.layer = layer;
    const select = this.q<HTMLSelectElement>(".cv-layer");
    if (layer && ![...select.options].some((o) => o.value === layer)) select.add(new Option(layer, layer));
    select.value = layer ?? "";
    void this.run(this.methodsShown());
  }

  private setTypedTarget(text: string): void {
    if (!text.trim()) return;
    try {
      this.state.target = parseTarget(text, this.classNames ?? this.rankedNames());
      this.picked = null;
    } catch (err) {
      return this.showError((err as Error).message, false);
    }
    void this.run(this.methodsShown());
  }

  /** Names known from the replies' rankings, by index, where the model has no class list. */
  private rankedNames(): string[] | null {
    const rows = this.panels.find((p) => p.result)?.result?.top_k.flat() ?? [];
    if (!rows.length || rows.every((r) => /^class \d+$/.test(r.name))) return null;
    const names: string[] = [];
    for (const r of rows) names[r.index] = r.name;
    return Array.from(names, (n, i) => n ?? `class ${i}`);
  }

  private async useImage(file: File): Promise<void> {
    if (!this.inputSpec) return this.showError("This model has no example inputs to size a picture by.", true);
    try {
      this.upload = await prepareImage(file, this.inputSpec);
    } catch (err) {
      return this.showError((err as Error).message, true);
    }
    this.index = 0;
    this.evidence.setDisabled("Evidence is computed on the model's own inputs, not on a picked image.");
    await this.run(this.methodsShown());
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
    this.attribution = this.state.attribution ? attributionPanel(this.state.attribution) : null;
    if (this.attribution) container.appendChild(this.attribution.el);
    this.q<HTMLDivElement>(".cv-error").hidden = true;
    this.evidence.clear();
    this.el.dataset.state = "loading";
    try {
      for (const panel of this.panels) {
        await this.compute(panel, controller.signal);
        if (controller.signal.aborted) return;
      }
      if (this.attribution) await this.computeAttribution(this.attribution, controller.signal);
      this.renderMethods(); // the layer is known now: the per-channel methods' counts with it
      this.el.dataset.state = "ready";
    } catch (err) {
      if (this.controller !== controller) return; // superseded by a newer run
      const cancelled = err instanceof CancelledError;
      this.showError(cancelled ? "Cancelled." : (err as Error).message, true);
      this.el.dataset.state = cancelled ? "cancelled" : "error";
    } finally {
      if (this.controller === controller) this.q<HTMLDivElement>(".cv-progress").hidden = true;
    }
    this.onChange(this.state);
  }

  /** Shows an error; `clear` drops the result it replaces, so no stale map stays under it. */
  private showError(message: string, clear: boolean): void {
    const box = this.q<HTMLDivElement>(".cv-error");
    box.hidden = false;
    box.textContent = message;
    if (!clear) return;
    this.panels = [];
    this.attribution = null;
    this.q<HTMLDivElement>(".cv-panels").replaceChildren();
    this.q<HTMLSpanElement>(".cv-layer-info").textContent = "";
    this.q<HTMLSpanElement>(".cv-device-info").textContent = "";
    this.q<HTMLDivElement>(".cv-topk").textContent = "";
    this.evidence.clear();
    this.el.dataset.state = "error";
  }

  private makePanel(method: string): Panel {
    const el = document.createElement("div");
    el.className = "cv-panel";
    el.dataset.method = method;
    el.innerHTML = `<div class="cv-panel-title"></div>`;
    el.querySelector(".cv-panel-title")!.textContent = `${method} · computing…`;
    const figure = figureElement();
    el.appendChild(figure.el);
    figure.canvases.overlay.dataset.method = method;
    paintColorbar(figure.canvases.colorbar, this.colormapName());
    return { method, el, canvases: figure.canvases };
  }

  private colormapName(): string {
    return this.q<HTMLSelectElement>(".cv-colormap").value || "jet";
  }

  private async compute(panel: Panel, signal: AbortSignal): Promise<void> {
    const args: Record<string, unknown> = { method: panel.method, target: this.picked ?? this.state.target, top_k: 5 };
    if (this.state.layer) args.layer = this.state.layer;
    if (this.state.eigen_smooth) args.eigen_smooth = true;
    if (this.state.aug_smooth) args.aug_smooth = true;
    const buffers = this.upload ? [this.upload.npy.slice(0)] : [];
    const reply = await this.transport.request<ExplainResult>("explain", args, buffers, {
      signal, onProgress: (p) => this.showProgress(panel.method, p.done, p.total),
    });
    const n = reply.result.shape[0];
    panel.result = reply.result;
    panel.maps = parseNpy(reply.buffers[n + 1]);
    panel.images = parseNpy(reply.buffers[n + 2]);
    if (reply.result.output_kind === "segmentation") panel.labels = parseNpy(reply.buffers[n + 3]);
    panel.el.querySelector(".cv-panel-title")!.textContent = `${reply.result.method} · ${reply.result.layer}`;
    this.q<HTMLSpanElement>(".cv-layer-info").textContent = `CAM layer: ${reply.result.layer}`;
    this.q<HTMLSpanElement>(".cv-device-info").textContent = reply.result.device ? `· computed on ${reply.result.device}` : "";
    this.paint(panel);
    this.renderInputs(n);
    this.renderTargets();
  }

  private showProgress(what: string, done: number, total: number): void {
    this.q<HTMLDivElement>(".cv-progress").hidden = false;
    const bar = this.q<HTMLProgressElement>(".cv-progress progress");
    bar.max = total || 1; bar.value = done;
    this.q<HTMLSpanElement>(".cv-progress-text").textContent = `${what}: ${done} / ${total}`;
  }

  /** The attribution of the input on screen (or the picked image), for the CAM's target. */
  private async computeAttribution(panel: AttributionPanel, signal: AbortSignal): Promise<void> {
    const args: Record<string, unknown> = { target: this.picked ?? this.state.target };
    if (!this.upload) args.indices = [this.index];
    if (this.state.layer) args.layer = this.state.layer;
    const buffers = this.upload ? [this.upload.npy.slice(0)] : [];
    await computeAttribution(panel, this.transport, args, buffers, signal, (p) => this.showProgress(panel.method, p.done, p.total));
    this.paint(panel);
  }

  private async runAttribution(): Promise<void> {
    const panel = this.attribution;
    const controller = this.controller;
    if (!panel || !controller) return;
    this.el.dataset.state = "loading";
    try {
      await this.computeAttribution(panel, controller.signal);
      if (this.controller === controller) this.el.dataset.state = "ready";
    } catch (err) {
      if (this.controller === controller) this.showError((err as Error).message, true);
    } finally {
      this.q<HTMLDivElement>(".cv-progress").hidden = true;
    }
  }

  private paint(panel: Panel | AttributionPanel): void {
    if (!panel.maps || !panel.images) return;
    const i = Math.min(this.index, panel.maps.shape[0] - 1);
    const alpha = Number(this.q<HTMLInputElement>(".cv-alpha").value);
    paintFigure(panel.canvases, panel.maps, panel.images, i, alpha, this.colormapName());
    if ("result" in panel && panel.result && isStructured(panel.result)) {
      drawStructure(panel.canvases.overlay, panel.result, i, panel.labels, this.q<HTMLInputElement>(".cv-boxes").checked);
    }
  }

  private renderInputs(n: number): void {
    const select = this.q<HTMLSelectElement>(".cv-input");
    if (this.upload) {
      const option = new Option(`picked: ${this.upload.name}`, UPLOAD, false, true);
      select.replaceChildren(...Array.from({ length: this.modelInputs() }, (_, i) => new Option(String(i), String(i))), option);
      select.value = UPLOAD;
      this.q<HTMLLabelElement>(".cv-input-label").hidden = false;
      return;
    }
    if (select.options.length === n && !select.querySelector(`option[value="${UPLOAD}"]`)) return;
    select.innerHTML = "";
    for (let i = 0; i < n; i++) select.add(new Option(String(i), String(i), false, i === this.index));
    this.q<HTMLLabelElement>(".cv-input-label").hidden = n < 2;
  }

  private modelInputs(): number {
    return this.inputSpec?.shape[0] ?? 0;
  }

  /** The target picker lists the current input's top-k classes with scores and names. */
  private renderTargets(): void {
    const result = this.panels.find((p) => p.result)?.result;
    if (!result) return;
    const select = this.q<HTMLSelectElement>(".cv-target");
    this.q<HTMLLabelElement>(".cv-boxes-label").hidden = result.output_kind !== "detection";
    this.q<HTMLInputElement>(".cv-target-any").hidden = isStructured(result);
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
      const name = this.classNames?.[this.state.target] ?? result.target_names?.[0] ?? `class ${this.state.target}`;
      select.add(new Option(`${name} (${this.state.target})`, String(this.state.target), false, true));
    }
    const list = this.q<HTMLDivElement>(".cv-topk");
    list.textContent = `Top classes: ${rows.map((r) => `${r.name} ${r.score.toFixed(2)}`).join(" · ")}`;
  }
}
