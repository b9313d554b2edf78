/** anywidget entry: mounts the cnnvis panel in a notebook output over the anywidget transport.
 * With a model: graph, activations (plus the 3D layer stack) and explain. With a logdir: the
 * training section (curves, histograms, images). `%cnnvis --logdir runs/` alone shows only that. */
import "./views/style.css";
import { AnywidgetTransport, CommModel } from "./transport/anywidget";
import { Transport } from "./transport/types";
import { AppState, CnnvisApp, Summary } from "./views/app";
import { GraphModel } from "./views/graph-model";
import { HistogramsView } from "./views/histograms";
import { ImagesView } from "./views/images";
import { Stack3DView } from "./views/stack3d";
import { TrainingView } from "./views/training";

interface WidgetModel extends CommModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
}

interface WidgetSummary extends Summary {
  logdir?: string | null;
}

const STACK_LAYERS = 6;

/** Up to STACK_LAYERS consecutive layers with 4-D outputs around `layer`, in graph order. */
function stackLayers(model: GraphModel | null | undefined, layer: string): string[] {
  if (!model) return [layer];
  const spatial = model.nodes.map((_, i) => i).filter((i) => !model.isGroup(i) && model.isSpatial(i)
    && model.nodes[i].kind !== "input").map((i) => model.nodes[i].id);
  const at = spatial.indexOf(layer);
  if (at < 0) return [layer];
  const start = Math.max(0, Math.min(at - Math.floor(STACK_LAYERS / 2), spatial.length - STACK_LAYERS));
  return spatial.slice(start, start + STACK_LAYERS);
}

function linkStack(app: CnnvisApp, transport: Transport): Stack3DView {
  const stack = new Stack3DView(transport);
  app.activations.el.appendChild(stack.el);
  app.activations.onLoad = (layer, index) => void stack.show(stackLayers(app.graph.model, layer), index);
  app.activations.onPick = (layer, channel) => stack.highlight(layer, channel);
  stack.onPick = async (layer, channel) => {
    if (app.activations.layer !== layer) await app.activations.load(layer, app.activations.index);
    app.activations.highlight(channel);
  };
  return stack;
}

/** Curves, histograms and images of the logdir, as tabs. */
function trainingSection(transport: Transport, logdir: string): { el: HTMLElement; dispose: () => void } {
  const el = document.createElement("div");
  el.className = "cv-training-section";
  const training = new TrainingView(transport, logdir);
  const histograms = new HistogramsView(transport, logdir);
  const images = new ImagesView(transport, logdir);
  const views = { scalars: training.el, histograms: histograms.el, images: images.el };
  const started = new Set<string>(["scalars"]);
  const bar = document.createElement("div");
  bar.className = "cv-tabs cv-training-tabs";
  const show = (name: keyof typeof views) => {
    for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
    bar.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    if (name === "scalars") training.resize();
    if (!started.has(name)) {
      started.add(name);
      void (name === "histograms" ? histograms.start() : images.start());
    }
  };
  for (const name of Object.keys(views) as (keyof typeof views)[]) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.tab = name;
    b.textContent = name === "scalars" ? "Training" : name[0].toUpperCase() + name.slice(1);
    b.onclick = () => show(name);
    bar.appendChild(b);
  }
  el.append(bar, training.el, histograms.el, images.el);
  show("scalars");
  void training.start();
  return { el, dispose: () => { training.dispose(); images.dispose(); } };
}

function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const transport = new AnywidgetTransport(model);
  const summary = (model.get("summary") ?? {}) as WidgetSummary;
  const state: AppState = {
    selected_layer: model.get("selected_layer") ?? "",
    method: model.get("method") ?? "gradcam",
    target: model.get("target") ?? null,
    theme: model.get("theme") ?? "auto",
  };
  let app: CnnvisApp | null = null;
  let root: HTMLElement;
  let setTheme: (theme: string) => void;
  if (summary.has_model !== false) {
    app = new CnnvisApp(transport, summary, state, (change) => {
      for (const [key, value] of Object.entries(change)) model.set(key, value);
      model.save_changes();
    });
    linkStack(app, transport);
    root = app.el;
    setTheme = (theme) => app?.setTheme(theme);
  } else {
    root = document.createElement("div");
    root.className = "cnnvis";
    root.innerHTML = `<div class="cv-header"><span class="cv-title"></span></div>`;
    root.querySelector(".cv-title")!.textContent = `${summary.name ?? "training"} · ${summary.logdir ?? ""}`;
    setTheme = (theme) => {
      root.classList.toggle("cv-dark", theme === "dark");
      root.classList.toggle("cv-light", theme === "light");
    };
    setTheme(state.theme);
  }
  const training = summary.logdir ? trainingSection(transport, summary.logdir) : null;
  if (training) root.appendChild(training.el);
  const onTheme = () => setTheme(model.get("theme"));
  model.on("change:theme", onTheme);
  el.appendChild(root);
  if (app) void app.start();
  return () => {
    model.off("change:theme", onTheme);
    training?.dispose();
    transport.dispose();
  };
}

export default { render };
export { CnnvisApp } from "./views/app";
export { GraphView } from "./views/graph";
export { TrainingView } from "./views/training";
export { Stack3DView } from "./views/stack3d";
export { DirectTransport } from "./transport/direct";
