/** A pixel attribution (saliency, SmoothGrad, Integrated Gradients, guided backprop, Guided
 * Grad-CAM) drawn beside the CAM panels as the same figure: input, map, overlay. The server sends
 * each map's magnitude in [0, 1] (a signed attribution is drawn by its strength). */
import { Progress, Transport } from "../transport/types";
import { NdArray, parseNpy } from "../util/npy";
import { FigureCanvases, figureElement } from "./explain-figure";

export interface AttributionResult {
  method: string;
  signed: boolean;
  shape: number[];
}

export interface AttributionPanel {
  method: string;
  el: HTMLDivElement;
  canvases: FigureCanvases;
  maps?: NdArray;
  images?: NdArray;
}

export function attributionPanel(method: string): AttributionPanel {
  const el = document.createElement("div");
  el.className = "cv-panel cv-attribution-panel";
  el.dataset.attribution = method;
  const title = document.createElement("div");
  title.className = "cv-panel-title";
  title.textContent = `${method.replace(/_/g, " ")} · computing…`;
  const figure = figureElement();
  figure.canvases.overlay.classList.replace("cv-cam", "cv-attribution-map");
  el.append(title, figure.el);
  return { method, el, canvases: figure.canvases };
}

/** Asks for the attribution of the inputs `args` name (or the picked image in `buffers`). */
export async function computeAttribution(panel: AttributionPanel, transport: Transport, args: Record<string, unknown>,
                                         buffers: ArrayBuffer[], signal: AbortSignal,
                                         onProgress: (p: Progress) => void): Promise<void> {
  const reply = await transport.request<AttributionResult>("attribute", { ...args, method: panel.method }, buffers,
    { signal, onProgress });
  panel.maps = parseNpy(reply.buffers[0]);
  panel.images = parseNpy(reply.buffers[2]);
  const sign = reply.result.signed ? " · magnitude of a signed attribution" : "";
  panel.el.querySelector(".cv-panel-title")!.textContent = `${reply.result.method.replace(/_/g, " ")}${sign}`;
}
