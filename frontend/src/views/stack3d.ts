/** Layer stack: consecutive layers' feature maps of one input as slabs in 3D, rotated by dragging.
 *
 * Each slab is the layer's channel mosaic painted onto a plane. With an orthographic projection a
 * plane maps to the screen by an affine transform, so a 2D canvas draws it exactly with
 * setTransform + drawImage (no WebGL needed), and the same transform inverted picks a channel. */
import { Transport } from "../transport/types";
import { COLORMAPS } from "../util/colormap";
import { parseNpy } from "../util/npy";

interface Slab {
  layer: string; c: number; h: number; w: number; cols: number; rows: number; gap: number; texture: HTMLCanvasElement;
}

type Vec = [number, number, number];

const SIZE = 1; // slab width in model units; the spacing between slabs is relative to it

export class Stack3DView {
  readonly el: HTMLDivElement;
  onPick: (layer: string, channel: number) => void = () => {};
  private readonly canvas: HTMLCanvasElement;
  private readonly info: HTMLDivElement;
  private slabs: Slab[] = [];
  private key = "";
  private yaw = -0.65;
  private pitch = 0.45;
  private picked: { layer: string; channel: number } | null = null;

  constructor(private readonly transport: Transport) {
    this.el = document.createElement("div");
    this.el.className = "cv-stack3d";
    this.el.innerHTML = `<div class="cv-panel-title">Layer stack · drag to rotate, click a channel</div>
      <canvas class="cv-stack-canvas" width="640" height="360"></canvas><div class="cv-hover cv-stack-info"></div>`;
    this.canvas = this.el.querySelector("canvas")!;
    this.info = this.el.querySelector(".cv-stack-info")!;
    this.el.hidden = true;
    this.bindPointer();
  }

  /** Loads `layers` (graph order) for input `index`; a no-op when they are already shown. */
  async show(layers: string[], index = 0): Promise<void> {
    const key = JSON.stringify([layers, index]);
    if (key === this.key || !layers.length) return;
    this.key = key;
    this.el.hidden = false;
    this.el.dataset.state = "loading";
    try {
      const slabs = await Promise.all(layers.map((layer) => this.load(layer, index)));
      if (key !== this.key) return; // a newer request replaced this one
      this.slabs = slabs;
      this.draw();
      this.el.dataset.state = "ready";
      this.el.dataset.layers = layers.join(",");
    } catch (err) {
      this.info.textContent = (err as Error).message;
      this.el.dataset.state = "error";
    }
  }

  /** Highlights a channel (from the activations grid); null clears. */
  highlight(layer: string, channel: number | null): void {
    this.picked = channel === null ? null : { layer, channel };
    this.el.dataset.picked = this.picked ? `${layer}:${channel}` : "";
    this.draw();
  }

  private async load(layer: string, index: number): Promise<Slab> {
    const reply = await this.transport.request<{ shape: number[]; stats: { min: number[]; max: number[] } }>(
      "activations", { layer, index });
    const [c, h, w] = reply.result.shape;
    const values = parseNpy(reply.buffers[0]).data as ArrayLike<number>;
    const cols = Math.ceil(Math.sqrt(c)), rows = Math.ceil(c / cols);
    // A pixel between channel tiles, except for maps so small the gaps would outweigh them (1×1 pooling).
    const gap = h >= 4 && w >= 4 ? 1 : 0;
    const texture = document.createElement("canvas");
    texture.width = cols * (w + gap) - gap;
    texture.height = rows * (h + gap) - gap;
    const ctx = texture.getContext("2d")!;
    const image = ctx.createImageData(texture.width, texture.height);
    const cmap = COLORMAPS.viridis;
    const { min, max } = reply.result.stats;
    for (let ch = 0; ch < c; ch++) {
      const ox = (ch % cols) * (w + gap), oy = Math.floor(ch / cols) * (h + gap);
      const lo = min[ch], span = max[ch] - lo || 1;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const t = Math.min(255, Math.max(0, Math.round(255 * (values[(ch * h + y) * w + x] - lo) / span)));
          const o = 4 * ((oy + y) * texture.width + ox + x);
          image.data[o] = cmap[3 * t]; image.data[o + 1] = cmap[3 * t + 1]; image.data[o + 2] = cmap[3 * t + 2];
          image.data[o + 3] = 255;
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    return { layer, c, h, w, cols, rows, gap, texture };
  }

  private rotate([x, y, z]: Vec): Vec {
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const x1 = cy * x + sy * z, z1 = -sy * x + cy * z;
    return [x1, cp * y - sp * z1, sp * y + cp * z1];
  }

  /** Screen affine of slab i: texture pixel (u, v) -> origin + u * U + v * V. */
  private frame(i: number): { o: [number, number]; u: [number, number]; v: [number, number]; depth: number } {
    const n = this.slabs.length, s = this.slabs[i];
    const spacing = Math.min(0.45, 2.2 / Math.max(1, n - 1));
    const z = (i - (n - 1) / 2) * spacing;
    const aspect = s.texture.height / s.texture.width;
    const half = SIZE / 2, halfH = half * Math.min(1.5, aspect);
    const scale = Math.min(this.canvas.width, this.canvas.height * 1.4) / 2.6;
    const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
    const project = (p: Vec): [number, number] => { const r = this.rotate(p); return [cx + scale * r[0], cy - scale * r[1]]; };
    const o = project([-half, halfH, z]);
    const right = project([half, halfH, z]), down = project([-half, -halfH, z]);
    return {
      o, u: [(right[0] - o[0]) / s.texture.width, (right[1] - o[1]) / s.texture.width],
      v: [(down[0] - o[0]) / s.texture.height, (down[1] - o[1]) / s.texture.height],
      depth: this.rotate([0, 0, z])[2],
    };
  }

  /** Slab indices back to front (painter's order). */
  private order(): number[] {
    return this.slabs.map((_, i) => i).sort((a, b) => this.frame(a).depth - this.frame(b).depth);
  }

  private draw(): void {
    if (!this.slabs.length) return;
    const width = Math.max(360, Math.min(900, this.el.clientWidth - 8 || 640));
    if (this.canvas.width !== width) this.canvas.width = width;
    const ctx = this.canvas.getContext("2d")!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.imageSmoothingEnabled = false;
    for (const i of this.order()) {
      const s = this.slabs[i], f = this.frame(i);
      ctx.setTransform(f.u[0], f.u[1], f.v[0], f.v[1], f.o[0], f.o[1]);
      ctx.globalAlpha = 0.92;
      ctx.drawImage(s.texture, 0, 0);
      ctx.globalAlpha = 1;
      const px = 1 / Math.hypot(f.u[0], f.u[1]); // one screen pixel in texture units
      ctx.lineWidth = px;
      ctx.strokeStyle = "rgba(128,128,128,0.9)";
      ctx.strokeRect(0, 0, s.texture.width, s.texture.height);
      if (this.picked?.layer === s.layer && this.picked.channel < s.c) {
        const ch = this.picked.channel;
        ctx.lineWidth = 3 * px;
        ctx.strokeStyle = "#ff1744";
        ctx.strokeRect((ch % s.cols) * (s.w + s.gap) - s.gap, Math.floor(ch / s.cols) * (s.h + s.gap) - s.gap, s.w + 2 * s.gap, s.h + 2 * s.gap);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = getComputedStyle(this.el).color || "#333";
      ctx.font = "11px sans-serif";
      ctx.fillText(`${s.layer} (${s.c}×${s.h}×${s.w})`, f.o[0] + 2, f.o[1] - 4);
    }
    this.el.dataset.yaw = this.yaw.toFixed(3);
  }

  /** The front-most channel under a canvas point, if any. */
  private pick(x: number, y: number): { layer: string; channel: number } | null {
    for (const i of this.order().reverse()) {
      const s = this.slabs[i], f = this.frame(i);
      const det = f.u[0] * f.v[1] - f.u[1] * f.v[0];
      if (Math.abs(det) < 1e-9) continue; // seen edge-on
      const dx = x - f.o[0], dy = y - f.o[1];
      const u = (dx * f.v[1] - dy * f.v[0]) / det, v = (f.u[0] * dy - f.u[1] * dx) / det;
      if (u < 0 || v < 0 || u >= s.texture.width || v >= s.texture.height) continue;
      const col = Math.floor(u / (s.w + s.gap)), row = Math.floor(v / (s.h + s.gap));
      const channel = row * s.cols + col;
      if (channel < s.c) return { layer: s.layer, channel };
    }
    return null;
  }

  private bindPointer(): void {
    let start: { x: number; y: number; yaw: number; pitch: number } | null = null;
    let moved = false;
    const point = (e: PointerEvent) => {
      const r = this.canvas.getBoundingClientRect();
      return { x: (e.clientX - r.left) * this.canvas.width / r.width, y: (e.clientY - r.top) * this.canvas.height / r.height };
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      start = { x: e.clientX, y: e.clientY, yaw: this.yaw, pitch: this.pitch };
      moved = false;
      this.canvas.setPointerCapture?.(e.pointerId);
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!start) {
        const hit = this.pick(point(e).x, point(e).y);
        this.info.textContent = hit ? `${hit.layer} · channel ${hit.channel}` : "";
        return;
      }
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
      if (!moved) return;
      this.yaw = start.yaw + dx * 0.01;
      this.pitch = Math.max(-1.4, Math.min(1.4, start.pitch + dy * 0.01));
      this.draw();
    });
    this.canvas.addEventListener("pointerup", (e) => {
      const wasClick = start && !moved;
      start = null;
      if (!wasClick) return;
      const hit = this.pick(point(e).x, point(e).y);
      if (!hit) return;
      this.highlight(hit.layer, hit.channel);
      this.onPick(hit.layer, hit.channel);
    });
  }
}
