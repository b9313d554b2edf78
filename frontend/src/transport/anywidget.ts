/** Transport over anywidget custom messages: `{id, kind, args}` + buffers out, `{id, ok, result |
 * error}` + buffers back, `{id, progress}` while working, and `{cancel: id}` to stop. */
import { CancelledError, Reply, RequestError, RequestOptions, Transport } from "./types";

/** The slice of anywidget's model this transport needs. */
export interface CommModel {
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string | null, cb?: ((...args: any[]) => void) | null): void;
}

interface Pending {
  resolve: (r: Reply<any>) => void;
  reject: (e: Error) => void;
  options: RequestOptions;
}

interface Incoming {
  id?: string;
  ok?: boolean;
  result?: Record<string, unknown>;
  error?: { message?: string; type?: string } | string;
  progress?: { done: number; total: number };
}

let counter = 0;

function toArrayBuffer(b: ArrayBuffer | DataView | ArrayBufferView): ArrayBuffer {
  if (b instanceof ArrayBuffer) return b;
  const view = b as ArrayBufferView;
  return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}

export class AnywidgetTransport implements Transport {
  private pending = new Map<string, Pending>();
  private readonly listener = (msg: Incoming, buffers?: (ArrayBuffer | DataView)[]) => this.onMessage(msg, buffers ?? []);

  constructor(private readonly model: CommModel) {
    model.on("msg:custom", this.listener);
  }

  dispose(): void {
    this.model.off("msg:custom", this.listener);
    for (const p of this.pending.values()) p.reject(new CancelledError("View closed"));
    this.pending.clear();
  }

  request<R>(kind: string, args: Record<string, unknown> = {}, buffers: ArrayBuffer[] = [],
             options: RequestOptions = {}): Promise<Reply<R>> {
    const id = `r${Date.now().toString(36)}-${++counter}`;
    return new Promise<Reply<R>>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new CancelledError());
      this.pending.set(id, { resolve, reject, options });
      options.signal?.addEventListener("abort", () => {
        if (!this.pending.has(id)) return;
        this.model.send({ cancel: id });
      }, { once: true });
      this.model.send({ id, kind, args }, undefined, buffers);
    });
  }

  private onMessage(msg: Incoming, buffers: (ArrayBuffer | DataView)[]): void {
    const entry = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!entry || msg.id === undefined) return;
    if (msg.progress) {
      entry.options.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) {
      entry.resolve({ result: msg.result ?? {}, buffers: buffers.map(toArrayBuffer) });
      return;
    }
    const err = typeof msg.error === "string" ? { message: msg.error } : msg.error ?? {};
    entry.reject(err.type === "CancelledError" ? new CancelledError(err.message)
      : new RequestError(err.message ?? "Request failed", err.type));
  }
}
