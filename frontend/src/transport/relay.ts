/** The messages between the VS Code webview (which runs the panel application) and its extension
 * host (which reaches kernels and Jupyter servers for it). A webview cannot open connections of
 * its own under its Content-Security-Policy, so every protocol request is posted to the host on a
 * named channel and answered there:
 *
 * - `server`: the Jupyter server's API (the server transport's kinds, plus `open_model` and
 *   `list_directory` for the panel's file helpers);
 * - `host`: `list_kernels` and `attach_kernel` {id} → {channel};
 * - `kernel:N`: the protocol inside one attached kernel, until `close`.
 *
 * Buffers travel as ArrayBuffers: VS Code (1.57+) transfers them as bytes in both directions. */

export const SERVER_CHANNEL = "server";
export const HOST_CHANNEL = "host";

export interface RelayError {
  message: string;
  type: string;
}

/** Webview → host. */
export type ToHost =
  | { type: "ready" }
  | { type: "request"; channel: string; id: string; kind: string; args: Record<string, unknown>; buffers: ArrayBuffer[] }
  | { type: "cancel"; id: string }
  | { type: "close"; channel: string };

/** Host → webview. */
export type ToView =
  | { type: "reply"; id: string; ok: true; result: unknown; buffers: ArrayBuffer[] }
  | { type: "reply"; id: string; ok: false; error: RelayError }
  | { type: "progress"; id: string; progress: { done: number; total: number } }
  /** A message for the user, shown above the panel (connection problems, hints). */
  | { type: "notice"; message: string; error: boolean }
  /** The Jupyter server now connected (`url` null: none). */
  | { type: "server"; url: string | null }
  /** A command asked the panel to show a source. */
  | { type: "open"; source: "logdir" | "model" | "kernel"; path?: string; kernel?: string };

/** Bytes of any kind (Node Buffer, typed array, ArrayBuffer) as an ArrayBuffer of exactly those bytes. */
export function asArrayBuffer(data: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data;
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

/** Whether a posted value is one of the host's messages (a webview also receives others). */
export function isToView(value: unknown): value is ToView {
  const type = (value as { type?: unknown } | null)?.type;
  return typeof type === "string" && ["reply", "progress", "notice", "server", "open"].includes(type);
}

export function isToHost(value: unknown): value is ToHost {
  const type = (value as { type?: unknown } | null)?.type;
  return typeof type === "string" && ["ready", "request", "cancel", "close"].includes(type);
}
