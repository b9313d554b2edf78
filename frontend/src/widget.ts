/** anywidget entry: mounts the cnnvis panel in a notebook output over the anywidget transport.
 * With a model: graph, activations (plus the 3D layer stack) and explain. With a logdir: the
 * training section (curves, histograms, images). `%cnnvis --logdir runs/` alone shows only that. */
import "./views/style.css";
import { AnywidgetTransport, CommModel } from "./transport/anywidget";
import { AppState, CnnvisApp, Summary } from "./views/app";
import { linkStack, trainingSection } from "./views/sections";

interface WidgetModel extends CommModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
}

interface WidgetSummary extends Summary {
  logdir?: string | null;
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
