/** Reading NumPy .npy buffers (the protocol's array format) into typed arrays. */

export interface NdArray {
  data: Float32Array | Float64Array | Uint8Array | Int32Array | Int64Array;
  shape: number[];
}

type Int64Array = BigInt64Array;

export function parseNpy(buffer: ArrayBuffer): NdArray {
  const bytes = new Uint8Array(buffer);
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major >= 2 ? view.getUint32(8, true) : view.getUint16(8, true);
  const offset = major >= 2 ? 12 : 10;
  const header = new TextDecoder("latin1").decode(bytes.subarray(offset, offset + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? "";
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "";
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran) throw new Error("Fortran-ordered arrays are not supported");
  if (descr.startsWith(">")) throw new Error("Big-endian arrays are not supported");
  const start = offset + headerLen;
  const body = buffer.slice(start);
  const kind = descr.replace(/^[<|=]/, "");
  const data = kind === "f4" ? new Float32Array(body)
    : kind === "f8" ? new Float64Array(body)
    : kind === "u1" || kind === "b1" ? new Uint8Array(body)
    : kind === "i4" ? new Int32Array(body)
    : kind === "i8" ? new BigInt64Array(body)
    : null;
  if (!data) throw new Error(`Unsupported dtype ${descr}`);
  return { data, shape };
}

/** A float32 array as a NumPy .npy (version 1.0) buffer, C order. */
export function toNpy(data: Float32Array, shape: number[]): ArrayBuffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = 10 + header.length + 1; // magic, version, length, header, newline
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // \x93NUMPY 1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out.buffer;
}
