/** anywidget entry: mounts the cnnvis panel in a notebook output over the anywidget transport. */
import "./views/style.css";
import { AnywidgetTransport, CommModel } from "./transport/anywidget";
import { AppState, CnnvisApp, Summary } from "./views/app";

interface WidgetModel extends CommModel {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
}

function render({ model, el }: { model: WidgetModel; el: HTMLElement }): () => void {
  const transport = new AnywidgetTransport(model);
  const state: AppState = {
    selected_layer: model.get("selected_layer") ?? "",
    method: model.get("method") ?? "gradcam",
    target: model.get("target") ?? null,
    theme: model.get("theme") ?? "auto",
  };
  const app = new CnnvisApp(transport, (model.get("summary") ?? {}) as Summary, state, (change) => {
    for (const [key, value] of Object.entries(change)) model.set(key, value);
    model.save_changes();
  });
  const onTheme = () => app.setTheme(model.get("theme"));
  model.on("change:theme", onTheme);
  el.appendChild(app.el);
  void app.start();
  return () => {
    model.off("change:theme", onTheme);
    transport.dispose();
  };
}

export default { render };
export { CnnvisApp } from "./views/app";
export { GraphView } from "./views/graph";
export { DirectTransport } from "./transport/direct";
