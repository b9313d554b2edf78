/** What the Explain view sends beyond the model's own inputs: the user's own picture, prepared as
 * the model takes it, and a target typed as a class index or a class name. */
import { toNpy } from "../util/npy";

/** How the model's inputs look: NCHW shape, the framework's layout, and how values are scaled:
 * the model's own mean/std where it has them, else the value range of its example inputs. */
export interface InputSpec {
  shape: number[];
  layout: "nchw" | "nhwc";
  mean?: number[] | null;
  std?: number[] | null;
  range?: [number, number] | null;
}

export interface PreparedImage {
  name: string;
  npy: ArrayBuffer;
}

/** A JPG/PNG resized to the model's input size, in its channels, layout and value scale. */
export async function prepareImage(file: Blob & { name?: string }, spec: InputSpec): Promise<PreparedImage> {
  const [, channels, height, width] = spec.shape;
  if (!height || !width) throw new Error("The model's input size is unknown: open it with example inputs first.");
  if (channels !== 1 && channels !== 3) {
    throw new Error(`The model takes ${channels} channels: only grey (1) or RGB (3) pictures can be prepared.`);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name ?? "The file"} is not an image the browser can decode (use JPG or PNG).`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d")!;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const out = new Float32Array(channels * height * width);
  for (let p = 0; p < height * width; p++) {
    const rgb = [rgba[4 * p] / 255, rgba[4 * p + 1] / 255, rgba[4 * p + 2] / 255];
    const values = channels === 1 ? [0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]] : rgb;
    values.forEach((v, c) => {
      const k = spec.layout === "nhwc" ? p * channels + c : c * height * width + p;
      out[k] = scale(v, c, spec);
    });
  }
  const shape = spec.layout === "nhwc" ? [1, height, width, channels] : [1, channels, height, width];
  return { name: file.name ?? "image", npy: toNpy(out, shape) };
}

/** A value in [0, 1] on the model's scale. */
function scale(v: number, c: number, spec: InputSpec): number {
  if (spec.mean && spec.std) {
    const m = spec.mean[c] ?? spec.mean[0], s = spec.std[c] ?? spec.std[0];
    return (v - m) / (s || 1);
  }
  if (spec.range) return spec.range[0] + v * (spec.range[1] - spec.range[0]);
  return v;
}

/** A typed target: a class index ("17") or a class name (exact, then case-insensitive). */
export function parseTarget(text: string, names: string[] | null): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const index = Number(value);
    if (names && index >= names.length) throw new Error(`Class ${index} is out of range: the model has ${names.length} classes.`);
    return index;
  }
  const exact = names?.indexOf(value) ?? -1;
  if (exact >= 0) return exact;
  const lower = value.toLowerCase();
  const loose = names?.findIndex((n) => n.toLowerCase() === lower) ?? -1;
  if (loose >= 0) return loose;
  throw new Error(names
    ? `No class named “${value}”: type a class index or one of the model's class names.`
    : `No class names are known for this model: type a class index.`);
}
