/** The cnnvis panel: graph on top; activations and explain below. Transport-agnostic, so the
 * notebook widget, the JupyterLab sidebar and static pages mount the same thing. */
import { Transport } from "../transport/types";
import { ActivationsView } from "./activations";
import { ConceptsView } from "./concepts";
import { EngineView } from "./engine";
import { ExplainView } from "./explain";
import { MethodCatalog } from "./explain-methods";
import { GraphView } from "./graph";
import { GraphDict, GraphModel, LayerIndex } from "./graph-model";

export interface AppState {
  selected_layer: string;
  method: string;
  target: number | null;
  theme: string;
}

export interface Summary {
  name?: string;
  framework?: string;
  inputs?: number[] | null;
  class_names?: string[] | null;
  has_model?: boolean;
  /** The model's own default CAM method (eigencam where there are no gradients: ONNX, TensorRT). */
  default_method?: string;
  /** Names a CAM / activations request may use (the adapter's layer names). */
  layers?: string[] | null;
  /** What this model can do; a false entry comes with its reason in ``reasons``. */
  capabilities?: Partial<Record<Capability, boolean>> & { reasons?: Partial<Record<Capability, string>> };
  /** How the example inputs look, so a picked picture is prepared the same way. */
  input_spec?: { layout?: "nchw" | "nhwc"; mean?: number[] | null; std?: number[] | null; range?: [number, number] | null } | null;
}

export type Capability = "explain" | "activations" | "evidence" | "gradients" | "attribute" | "concepts";

/** Why ``summary``'s model cannot do ``what``, or null when it can. Engines (TensorRT) hold no
 * weights, so they have neither maps nor activations even where the server predates capabilities. */
export function unavailable(summary: Summary, what: Capability): string | null {
  const caps = summary.capabilities;
  if (caps && caps[what] === false) return caps.reasons?.[what] ?? `Not available for this model.`;
  if (summary.framework === "tensorrt" && what !== "evidence") {
    return "A TensorRT engine holds no weights: it has no activations or maps. Explain the ONNX model it was "
      + "built from (gradient-free methods: eigencam, scorecam, ablationcam); the Engine tab shows its layers and timings.";
  }
  return null;
}

export class CnnvisApp {
  readonly el: HTMLDivElement;
  readonly graph: GraphView;
  readonly activations: ActivationsView;
  readonly explain: ExplainView;
  /** Deep Feature Factorization of the inputs at the CAM layer, where the model has activations. */
  concepts: ConceptsView | null = null;
  /** Latency views, added once the graph shows the model is a deployed engine (or ONNX). */
  engine: EngineView | null = null;
  /** Which graph nodes a request may name, once the graph is in. */
  layers: LayerIndex | null = null;
  private readonly tabs: Record<string, HTMLElement> = {};
  private readonly tabBar: HTMLDivElement;

  constructor(private readonly transport: Transport, private readonly summary: Summary,
              private readonly state: AppState, private readonly onState: (s: Partial<AppState>) => void = () => {}) {
    if (summary.default_method && summary.default_method !== "gradcam" && state.method === "gradcam") {
      this.state = { ...state, method: summary.default_method }; // gradcam is only the hosts' generic default
    }
    state = this.state;
    this.el = document.createElement("div");
    this.el.className = "cnnvis";
    this.setTheme(state.theme);
    const header = document.createElement("div");
    header.className = "cv-header";
    const title = document.createElement("span");
    title.className = "cv-title";
    title.textContent = `${summary.name ?? "model"}${summary.framework ? ` · ${summary.framework}` : ""}`
      + (summary.inputs ? ` · inputs ${summary.inputs.join("×")}` : "");
    header.appendChild(title);
    this.graph = new GraphView({ onSelect: (id) => this.onLayer(id) });
    this.activations = new ActivationsView(transport);
    this.explain = new ExplainView(transport, { methods: [state.method], method: state.method, target: state.target,
      layer: state.selected_layer || null }, (s) => this.onState({ method: s.method, target: s.target }));
    this.tabBar = document.createElement("div");
    this.tabBar.className = "cv-tabs";
    this.el.append(header, this.graph.el, this.tabBar);
    const cannot = unavailable(summary, "explain");
    if (cannot) this.noActionsNote(cannot);
    else {
      this.addTab("Explain", this.explain.el);
      if (!unavailable(summary, "activations")) this.addTab("Activations", this.activations.el);
      if (summary.inputs && !unavailable(summary, "concepts")) {
        this.concepts = new ConceptsView(transport, () => this.explain.layer, summary.inputs[0] ?? 1);
        this.addTab("Concepts", this.concepts.el);
      }
      if (!summary.inputs) this.noInputsNote();
      this.showTab("explain");
    }
    this.explain.evidence.setUnavailable(unavailable(summary, "evidence"));
    this.explain.setGradients(unavailable(summary, "gradients"), summary.framework ?? "");
    this.explain.setClassNames(summary.class_names ?? null);
    const spec = summary.input_spec;
    this.explain.setInputSpec(summary.inputs && summary.inputs.length === 4 ? {
      shape: summary.inputs, layout: spec?.layout ?? (summary.framework === "keras" ? "nhwc" : "nchw"),
      mean: spec?.mean ?? null, std: spec?.std ?? null, range: spec?.range ?? null,
    } : null);
  }

  /** Shown instead of the Explain and Activations tabs for a model that has neither. */
  private noActionsNote(reason: string): void {
    const note = document.createElement("div");
    note.className = "cv-note cv-no-actions";
    note.textContent = reason;
    this.el.insertBefore(note, this.tabBar.nextSibling);
  }

  private addTab(name: string, view: HTMLElement): void {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.dataset.tab = name.toLowerCase();
    button.onclick = () => this.showTab(name.toLowerCase());
    this.tabBar.appendChild(button);
    this.tabs[name.toLowerCase()] = view;
    view.hidden = true; // until showTab picks it
    this.el.appendChild(view);
  }

  /** Without inputs there is nothing to explain: say so up front rather than failing on the first request. */
  private noInputsNote(): void {
    const note = document.createElement("div");
    note.className = "cv-note cv-no-inputs";
    note.textContent = "This model was opened without inputs: open it with an inputs .npy/.npz to explain it.";
    this.explain.el.prepend(note);
  }

  /** The Engine tab, for graphs with per-layer latency (TensorRT) and for ONNX models (timed here). */
  private addEngineTab(): void {
    if (this.engine || !(this.graph.latency || this.summary.framework === "onnx")) return;
    this.engine = new EngineView(this.transport, this.summary.framework ?? "");
    this.addTab("Engine", this.engine.el);
    if (!this.summary.inputs || !this.tabs.explain) this.showTab("engine");
    void this.engine.start();
  }

  setTheme(theme: string): void {
    this.el.classList.toggle("cv-dark", theme === "dark");
    this.el.classList.toggle("cv-light", theme === "light");
  }

  async start(): Promise<void> {
    const status = this.transport.request<{ methods: string[]; method_info?: MethodCatalog }>("status").then((r) => {
      if (r.result.method_info) this.explain.setCatalog(r.result.method_info);
      else this.explain.setMethods(r.result.methods);
    }).catch(() => undefined);
    const graph = this.transport.request<GraphDict>("graph").then(async (r) => {
      await this.graph.setGraph(r.result);
      this.layers = new LayerIndex(this.graph.model!, this.summary.framework ?? "", this.summary.layers);
      this.explain.setLayers(this.layers.all());
      this.explain.setChannels((layer) => channelsOf(this.graph.model, layer, this.summary.framework === "keras"));
      this.addEngineTab();
    })
      .catch((err: Error) => this.showError(`Graph: ${err.message}`));
    await status;
    if (this.summary.inputs && this.tabs.explain) await this.explain.run([this.state.method]);
    await graph;
    if (this.state.selected_layer) this.graph.select(this.state.selected_layer);
  }

  private showTab(name: string): void {
    for (const [key, view] of Object.entries(this.tabs)) view.hidden = key !== name;
    if (name === "concepts") this.concepts?.start();
    this.el.querySelectorAll<HTMLButtonElement>(".cv-tabs button").forEach((b) => {
      b.classList.toggle("active", b.dataset.tab === name);
    });
  }

  /** A clicked node opens the activations of its layer and makes it the CAM layer: an operation
   * stands for the module it belongs to, so no name the model cannot address is ever sent. */
  private onLayer(id: string): void {
    if (!this.summary.inputs || !this.layers || !this.tabs.explain) return;
    const layer = this.layers.layerFor(id);
    if (!layer) {
      this.showError(`${id} is not inside a layer with a 4-D output: no activations or CAM there.`);
      return;
    }
    this.onState({ selected_layer: layer });
    if (this.tabs.activations) {
      this.showTab("activations");
      void this.activations.load(layer, 0);
    }
    this.explain.setLayer(layer);
  }

  private showError(message: string): void {
    let box = this.el.querySelector<HTMLDivElement>(".cv-app-error");
    if (!box) {
      box = document.createElement("div");
      box.className = "cv-app-error";
      this.el.insertBefore(box, this.graph.el);
    }
    box.textContent = message;
    window.setTimeout(() => { if (box?.textContent === message) box.remove(); }, 6000);
  }
}

/** The channels of a layer's 4-D output, from the graph (null where the graph does not say). */
function channelsOf(model: GraphModel | null | undefined, layer: string, channelsLast: boolean): number | null {
  const node = model?.nodes.find((n) => n.id === layer);
  const shape = node?.output_shape;
  if (!Array.isArray(shape)) return null;
  const dims = Array.isArray(shape[0]) ? shape[0] : shape;
  const channels = dims[channelsLast ? 3 : 1];
  return dims.length === 4 && typeof channels === "number" ? channels : null;
}
