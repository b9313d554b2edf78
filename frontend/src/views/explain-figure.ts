/** One explanation drawn as pytorch-grad-cam's figures do: the input, the map alone and the map over
 * the input, side by side, with a colour bar of the colour map in use (0 = no evidence, 1 = the
 * map's peak). Everything is re-painted in the browser from the raw arrays, so the colour map and
 * the opacity change without a request. */
import { COLORMAPS } from "../util/colormap";
import { NdArray } from "../util/npy";

/** Opacity of the map over the input: low enough that the input stays visible beneath it. */
export const DEFAULT_ALPHA = 0.35;

export interface FigureCanvases {
  input: HTMLCanvasElement;
  map: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  colorbar: HTMLCanvasElement;
}

/** The figure's markup: three captioned canvases and the colour bar. */
export function figureElement(): { el: HTMLDivElement; canvases: FigureCanvases } {
  const el = document.createElement("div");
  el.className = "cv-figure";
  el.innerHTML = `<figure><canvas class="cv-input-image"></canvas><figcaption>input</figcaption></figure>
    <figure><canvas class="cv-map"></canvas><figcaption>map</figcaption></figure>
    <figure><canvas class="cv-cam"></canvas><figcaption>overlay</figcaption></figure>
    <div class="cv-colorbar-box"><span class="cv-colorbar-max">1</span><canvas class="cv-colorbar" width="1" height="128"></canvas>
    <span class="cv-colorbar-min">0</span></div>`;
  const q = (s: string) => el.querySelector(s) as HTMLCanvasElement;
  return { el, canvases: { input: q(".cv-input-image"), map: q(".cv-map"), overlay: q(".cv-cam"), colorbar: q(".cv-colorbar") } };
}

export function colormap(name: string): Uint8Array {
  return COLORMAPS[name] ?? COLORMAPS.jet;
}

/** Paints input `i` of `maps` (N, H, W in [0, 1]) and `images` (N, H, W, C uint8). */
export function paintFigure(c: FigureCanvases, maps: NdArray, images: NdArray, i: number,
                            alpha: number, cmapName: string): void {
  const [, h, w] = maps.shape;
  const k = Math.min(i, maps.shape[0] - 1);
  const cmap = colormap(cmapName);
  const input = new ImageData(w, h), map = new ImageData(w, h), overlay = new ImageData(w, h);
  const values = maps.data as Float32Array, pixels = images.data as Uint8Array;
  const channels = images.shape[3] ?? 1;
  for (let p = 0; p < h * w; p++) {
    const m = 3 * Math.min(255, Math.max(0, Math.round(255 * values[k * h * w + p])));
    for (let ch = 0; ch < 3; ch++) {
      const base = pixels[(k * h * w + p) * channels + (channels === 3 ? ch : 0)];
      input.data[4 * p + ch] = base;
      map.data[4 * p + ch] = cmap[m + ch];
      overlay.data[4 * p + ch] = Math.round((1 - alpha) * base + alpha * cmap[m + ch]);
    }
    input.data[4 * p + 3] = map.data[4 * p + 3] = overlay.data[4 * p + 3] = 255;
  }
  for (const [canvas, data] of [[c.input, input], [c.map, map], [c.overlay, overlay]] as const) {
    canvas.width = w; canvas.height = h;
    canvas.getContext("2d")!.putImageData(data, 0, 0);
    canvas.style.aspectRatio = `${w} / ${h}`;
  }
  paintColorbar(c.colorbar, cmapName);
}

/** A vertical bar: the colour map's top (1) at the top. */
export function paintColorbar(canvas: HTMLCanvasElement, cmapName: string): void {
  const cmap = colormap(cmapName);
  const height = 128;
  canvas.width = 1; canvas.height = height;
  const bar = new ImageData(1, height);
  for (let y = 0; y < height; y++) {
    const m = 3 * Math.round(255 * (1 - y / (height - 1)));
    bar.data.set([cmap[m], cmap[m + 1], cmap[m + 2], 255], 4 * y);
  }
  canvas.getContext("2d")!.putImageData(bar, 0, 0);
  canvas.dataset.colormap = cmapName;
}
