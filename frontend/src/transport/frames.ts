/** A whole protocol reply in one HTTP body (`application/x-cnnvis-reply`): "CNVR", u32 JSON length,
 * JSON, u32 buffer count, then per buffer u32 length + bytes, all little-endian. */
import { Reply } from "./types";

export const REPLY_MIME = "application/x-cnnvis-reply";

export function parseReplyFrames<R>(body: ArrayBuffer): Reply<R> {
  const view = new DataView(body);
  const magic = new TextDecoder().decode(new Uint8Array(body, 0, Math.min(4, body.byteLength)));
  if (magic !== "CNVR") throw new Error("The server's reply is not a cnnvis reply (no CNVR header).");
  const size = view.getUint32(4, true);
  const result = JSON.parse(new TextDecoder().decode(new Uint8Array(body, 8, size))) as R;
  let at = 8 + size;
  const count = view.getUint32(at, true);
  at += 4;
  const buffers: ArrayBuffer[] = [];
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at, true);
    at += 4;
    if (at + length > body.byteLength) throw new Error("The server's reply is truncated.");
    buffers.push(body.slice(at, at + length));
    at += length;
  }
  return { result, buffers };
}
