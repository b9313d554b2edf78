/** Concepts view: Deep Feature Factorization of the model's inputs at the CAM layer. Each concept
 * (a direction in the layer's channels, shared by every input) gets a colour; the image is painted
 * with the strongest concept at each pixel, as strong as that concept is there, and a legend lists
 * each concept's top classes. Class names come from the model: they reach the page as text only. */
import { Transport } from "../transport/types";
import { NdArray, parseNpy } from "../util/npy";

interface TopClass { index: number; name: string; score: number | null }

interface ConceptsResult {
  layer: string;
  shape: number[]; // N, K, H, W
  concepts: { index: number; top_classes: TopClass[] }[];
}

/** Ten distinct colours (Tableau 10), one per concept. */
export const CONCEPT_COLORS: [number, number, number][] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];
const OPACITY = 0.65;
const MAX_INPUTS = 16; // factorised together: enough for shared concepts, little for the server

export class ConceptsView {
  readonly el: HTMLDivElement;
  private started = false;
  private controller: AbortController | null = null;
  private result: ConceptsResult | null = null;
  private maps: NdArray | null = null;
  private regions: NdArray | null = null;
  private images: NdArray | null = null;
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  /** `layer()`: the Explain view's CAM layer (null: the default one); `inputs`: how many the model has. */
  constructor(private readonly transport: Transport, private readonly layer: () => string | null,
              private readonly inputs: number) {
    this.el = document.createElement("div");
    this.el.className = "cv-concepts";
    this.el.innerHTML = `<div class="cv-toolbar">
      <label>Concepts <select class="cv-concept-count"></select></label>
      <label class="cv-concept-input-label">Input <select class="cv-concept-input"></select></label>
      <button class="cv-concepts-run" type="button">Find concepts</button>
      <span class="cv-concepts-info cv-info"></span></div>
      <div class="cv-error" hidden></div>
      <div class="cv-concepts-body"><canvas class="cv-concepts-canvas"></canvas><ol class="cv-concept-legend"></ol></div>`;
    const count = this.q<HTMLSelectElement>(".cv-concept-count");
    for (let k = 2; k <= CONCEPT_COLORS.length; k++) count.add(new Option(String(k), String(k), false, k === 4));
    const input = this.q<HTMLSelectElement>(".cv-concept-input");
    const shown = Math.min(inputs, MAX_INPUTS);
    for (let i = 0; i < shown; i++) input.add(new Option(String(i), String(i)));
    this.q<HTMLLabelElement>(".cv-concept-input-label").hidden = shown < 2;
    input.onchange = () => this.paint();
    count.onchange = () => void this.run();
    this.q<HTMLButtonElement>(".cv-concepts-run").onclick = () => void this.run();
  }

  /** Computes once, the first time the view is shown. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run();
  }

  async run(): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const args: Record<string, unknown> = {
      n_components: Number(this.q<HTMLSelectElement>(".cv-concept-count").value), top_k: 3,
      indices: Array.from({ length: Math.min(this.inputs, MAX_INPUTS) }, (_, i) => i),
    };
    const layer = this.layer();
    if (layer) args.layer = layer;
    this.el.dataset.state = "loading";
    this.q<HTMLDivElement>(".cv-error").hidden = true;
    this.q<HTMLSpanElement>(".cv-concepts-info").textContent = "factorising…";
    try {
      const reply = await this.transport.request<ConceptsResult>("concepts", args, [], { signal: controller.signal });
      if (this.controller !== controller) return;
      this.result = reply.result;
      [this.maps, this.regions, this.images] = reply.buffers.map(parseNpy);
      this.q<HTMLSpanElement>(".cv-concepts-info").textContent = `layer ${reply.result.layer}`;
      this.renderLegend();
      this.paint();
      this.el.dataset.state = "ready";
    } catch (err) {
      if (this.controller !== controller) return;
      const box = this.q<HTMLDivElement>(".cv-error");
      box.hidden = false;
      box.textContent = (err as Error).message;
      this.q<HTMLSpanElement>(".cv-concepts-info").textContent = "";
      this.q<HTMLOListElement>(".cv-concept-legend").replaceChildren();
      this.el.dataset.state = "error";
    }
  }

  private renderLegend(): void {
    const items = (this.result?.concepts ?? []).map((concept) => {
      const li = document.createElement("li");
      li.dataset.concept = String(concept.index);
      const swatch = document.createElement("span");
      swatch.className = "cv-swatch";
      const [r, g, b] = CONCEPT_COLORS[concept.index % CONCEPT_COLORS.length];
      swatch.style.background = `rgb(${r}, ${g}, ${b})`;
      const text = concept.top_classes.map((c) => `${c.name}${c.score === null ? "" : ` (${c.score.toFixed(2)})`}`);
      li.append(swatch, document.createTextNode(`concept ${concept.index + 1}: ${text.join(" · ") || "no classes"}`));
      return li;
    });
    this.q<HTMLOListElement>(".cv-concept-legend").replaceChildren(...items);
  }

  /** The chosen input with each pixel tinted by its strongest concept, as strongly as it is there. */
  private paint(): void {
    if (!this.maps || !this.regions || !this.images) return;
    const [n, k, h, w] = this.maps.shape;
    const i = Math.min(Number(this.q<HTMLSelectElement>(".cv-concept-input").value || 0), n - 1);
    const maps = this.maps.data as Float32Array, regions = this.regions.data as Uint8Array;
    const pixels = this.images.data as Uint8Array, channels = this.images.shape[3] ?? 1;
    const out = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      const concept = regions[i * h * w + p];
      const strength = OPACITY * Math.min(1, Math.max(0, maps[((i * k) + concept) * h * w + p]));
      const color = CONCEPT_COLORS[concept % CONCEPT_COLORS.length];
      for (let ch = 0; ch < 3; ch++) {
        const base = pixels[(i * h * w + p) * channels + (channels === 3 ? ch : 0)];
        out.data[4 * p + ch] = Math.round((1 - strength) * base + strength * color[ch]);
      }
      out.data[4 * p + 3] = 255;
    }
    const canvas = this.q<HTMLCanvasElement>(".cv-concepts-canvas");
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d")!.putImageData(out, 0, 0);
    canvas.style.aspectRatio = `${w} / ${h}`;
    canvas.dataset.input = String(i);
  }
}
