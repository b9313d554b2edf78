/** The cnnvis panel: graph on top; activations and explain below. Transport-agnostic, so the
 * notebook widget, the JupyterLab sidebar and static pages mount the same thing. */
import { Transport } from "../transport/types";
import { ActivationsView } from "./activations";
import { EngineView } from "./engine";
import { ExplainView } from "./explain";
import { GraphView } from "./graph";
import { GraphDict } from "./graph-model";

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
}

export class CnnvisApp {
  readonly el: HTMLDivElement;
  readonly graph: GraphView;
  readonly activations: ActivationsView;
  readonly explain: ExplainView;
  /** Latency views, added once the graph shows the model is a deployed engine (or ONNX). */
  engine: EngineView | null = null;
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
    this.addTab("Explain", this.explain.el);
    this.addTab("Activations", this.activations.el);
    if (!summary.inputs) this.noInputsNote();
    this.showTab("explain");
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

  /** Without inputs there is nothing to explain (TensorRT exports carry no weights either): say so
   * up front rather than failing on the first request. */
  private noInputsNote(): void {
    const note = document.createElement("div");
    note.className = "cv-note cv-no-inputs";
    note.textContent = this.summary.framework === "tensorrt"
      ? "A TensorRT export describes the engine's layers and timings but holds no weights: explain the ONNX model "
        + "it was built from (gradient-free methods: eigencam, scorecam, ablationcam). See the Engine tab."
      : "This model was opened without inputs: open it with an inputs .npy/.npz to explain it.";
    this.explain.el.prepend(note);
  }

  /** The Engine tab, for graphs with per-layer latency (TensorRT) and for ONNX models (timed here). */
  private addEngineTab(): void {
    if (this.engine || !(this.graph.latency || this.summary.framework === "onnx")) return;
    this.engine = new EngineView(this.transport, this.summary.framework ?? "");
    this.addTab("Engine", this.engine.el);
    if (!this.summary.inputs) this.showTab("engine");
    void this.engine.start();
  }

  setTheme(theme: string): void {
    this.el.classList.toggle("cv-dark", theme === "dark");
    this.el.classList.toggle("cv-light", theme === "light");
  }

  async start(): Promise<void> {
    const status = this.transport.request<{ methods: string[] }>("status").then((r) => {
      this.explain.setMethods(r.result.methods);
    }).catch(() => undefined);
    const graph = this.transport.request<GraphDict>("graph").then(async (r) => {
      await this.graph.setGraph(r.result);
      this.addEngineTab();
    })
      .catch((err: Error) => this.showError(`Graph: ${err.message}`));
    await status;
    if (this.summary.inputs) await this.explain.run([this.state.method]);
    await graph;
    if (this.state.selected_layer) this.graph.select(this.state.selected_layer);
  }

  private showTab(name: string): void {
    for (const [key, view] of Object.entries(this.tabs)) view.hidden = key !== name;
    this.el.querySelectorAll<HTMLButtonElement>(".cv-tabs button").forEach((b) => {
      b.classList.toggle("active", b.dataset.tab === name);
    });
  }

  /** A clicked layer opens its activations and, if spatial, becomes the CAM layer. */
  private onLayer(id: string): void {
    this.onState({ selected_layer: id });
    const model = this.graph.model;
    const i = model?.index.get(id);
    if (!this.summary.inputs || i === undefined || !model) return;
    if (model.isSpatial(i)) {
      this.showTab("activations");
      void this.activations.load(id, 0);
      this.explain.setLayer(id);
    } else {
      this.showError(`${id} has no 4-D output: no activations or CAM there.`);
    }
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
