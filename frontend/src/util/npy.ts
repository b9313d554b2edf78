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
