/** What the Explain view knows about each method before asking for it (the `status` kind's
 * `method_info`): whether it needs gradients, so models without them (ONNX, TensorRT) show it
 * disabled with the reason, and how many passes per image it costs, so the slow ones say so. */

export interface CamMethodInfo {
  name: string;
  aliases?: string[];
  gradients: boolean;
  /** Passes per image: a count, "channels" (one per channel of the layer) or "layers". */
  forwards: number | string;
  cost?: string;
}

export interface AttributionInfo {
  name: string;
  gradients: boolean;
  torch_only?: boolean;
  forwards: number | string;
}

export interface MethodCatalog {
  cam: CamMethodInfo[];
  attribution: AttributionInfo[];
  aug_smooth_passes?: number;
}

/** The pixel attributions offered where the server predates `method_info`. */
export const ATTRIBUTIONS: AttributionInfo[] = ["saliency", "smoothgrad", "integrated_gradients", "guided_backprop",
  "guided_gradcam"].map((name) => ({ name, gradients: true, forwards: 1, torch_only: name.startsWith("guided") }));

/** A catalog from plain method names (an older server): gradient needs unknown, nothing disabled. */
export function catalogFromNames(names: string[]): MethodCatalog {
  return { cam: names.map((name) => ({ name, gradients: false, forwards: 1 })), attribution: ATTRIBUTIONS };
}

/** Forward passes per image as a number where it is known: `channels` is the CAM layer's C. */
export function forwardCount(info: CamMethodInfo, channels: number | null): number | null {
  if (typeof info.forwards === "number") return info.forwards;
  if (info.forwards === "channels") return channels;
  return null;
}

/** The option's text: the name, a gradient mark, and the pass count of the slow ones. */
export function methodLabel(info: CamMethodInfo, channels: number | null, augPasses: number): string {
  const marks: string[] = [];
  if (info.gradients) marks.push("∇");
  const count = forwardCount(info, channels);
  const times = augPasses > 1 ? augPasses : 1;
  if (info.forwards === "channels") marks.push(count ? `${count * times} forwards` : "C forwards");
  else if (info.forwards === "layers") marks.push(times > 1 ? `×${times} per layer` : "1 pass per layer");
  else if (count && count * times > 1) marks.push(`${count * times} passes`);
  return marks.length ? `${info.name} (${marks.join(", ")})` : info.name;
}

/** The option's tooltip: what it needs and what it costs. */
export function methodTitle(info: CamMethodInfo, channels: number | null, blocked: string | null): string {
  const needs = info.gradients ? "Needs gradients." : "Gradient-free.";
  const cost = info.forwards === "channels" && channels
    ? `${channels} forward passes per image (one per channel of the layer).` : info.cost ?? "";
  return [blocked && info.gradients ? blocked : "", needs, cost].filter(Boolean).join(" ");
}

/** Fills a method `<select>`: every method, gradient ones disabled (with the reason) where `blocked`. */
export function fillMethodSelect(select: HTMLSelectElement, catalog: MethodCatalog, current: string,
                                 channels: number | null, augPasses: number, blocked: string | null): void {
  select.replaceChildren(...catalog.cam.map((info) => {
    const option = new Option(methodLabel(info, channels, augPasses), info.name, false, info.name === current);
    option.title = methodTitle(info, channels, blocked);
    option.dataset.gradients = String(info.gradients);
    option.disabled = Boolean(blocked) && info.gradients;
    return option;
  }));
}

/** The attribution `<select>`: "none", then every attribution (disabled where it cannot run). */
export function fillAttributionSelect(select: HTMLSelectElement, catalog: MethodCatalog, current: string,
                                      blocked: string | null, framework: string): void {
  const none = new Option("none", "", false, current === "");
  select.replaceChildren(none, ...catalog.attribution.map((info) => {
    const label = info.name.replace(/_/g, " ");
    const option = new Option(label, info.name, false, info.name === current);
    const torchOnly = info.torch_only && framework !== "" && framework !== "torch";
    option.disabled = Boolean(blocked) || Boolean(torchOnly);
    option.title = blocked ?? (torchOnly ? "PyTorch models only (it changes how ReLU modules pass gradients back)."
      : typeof info.forwards === "string" ? `One pass per ${info.forwards.replace(/s$/, "")} per image.` : "");
    return option;
  }));
}

/** Compare row: a box per method of `select`, disabled like its option; ticked boxes stay ticked. */
export function fillCompareBoxes(compare: HTMLElement, select: HTMLSelectElement, current: string): void {
  const checked = new Set([...compare.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value));
  compare.replaceChildren(...[...select.options].map((option) => {
    const label = document.createElement("label");
    label.title = option.title;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = option.value;
    box.checked = checked.size ? checked.has(option.value) : option.value === current;
    box.disabled = option.disabled;
    label.append(box, document.createTextNode(` ${option.value}`));
    return label;
  }));
}

/** What the Explain view's pickers are filled from: the catalog, why gradients are unavailable
 * (null: they are), the framework, and a layer's channel count (from the graph). */
export class MethodChoices {
  catalog: MethodCatalog = catalogFromNames([]);
  noGradients: string | null = null;
  framework = "";
  channelsOf: (layer: string) => number | null = () => null;

  /** Fills `.cv-method`, `.cv-compare` and `.cv-attribution` under `root`. */
  render(root: ParentNode, method: string, attribution: string, augSmooth: boolean, layer: string | null): void {
    const channels = layer ? this.channelsOf(layer) : null;
    const aug = augSmooth ? this.catalog.aug_smooth_passes ?? 6 : 1;
    const select = root.querySelector<HTMLSelectElement>(".cv-method")!;
    fillMethodSelect(select, this.catalog, method, channels, aug, this.noGradients);
    fillCompareBoxes(root.querySelector<HTMLElement>(".cv-compare")!, select, method);
    fillAttributionSelect(root.querySelector<HTMLSelectElement>(".cv-attribution")!, this.catalog, attribution,
      this.noGradients, this.framework);
  }
}
