/** Sections every host of the panel mounts the same way: the 3D layer stack linked to the
 * activations grid, and the training section (curves, histograms, images) of a logdir. */
import { Transport } from "../transport/types";
import { CnnvisApp } from "./app";
import { GraphModel } from "./graph-model";
import { HistogramsView } from "./histograms";
import { ImagesView } from "./images";
import { Stack3DView } from "./stack3d";
import { TrainingView } from "./training";

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

export function linkStack(app: CnnvisApp, transport: Transport): Stack3DView {
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
export function trainingSection(transport: Transport, logdir: string): { el: HTMLElement; dispose: () => void } {
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
