/** The webview's side of the relay (see ./relay.ts): the panel's server and kernel sources, each a
 * stand-in whose calls are posted to the VS Code extension host and answered there. */
import type { KernelEntry, OpenedModel, PanelKernels, PanelServer } from "../panel/sources";
import { HOST_CHANNEL, RelayError, SERVER_CHANNEL, ToHost, ToView, asArrayBuffer } from "./relay";
import { ScopedTransport } from "./scoped";
import { CancelledError, Reply, RequestError, RequestOptions, Transport } from "./types";

/** How messages leave and arrive: `acquireVsCodeApi().postMessage` and window "message" events in
 * the webview, a direct link in tests. */
export interface Port {
  post(message: ToHost): void;
  onMessage(listener: (message: ToView) => void): void;
}

interface Pending {
  resolve: (reply: Reply<any>) => void;
  reject: (error: Error) => void;
  options: RequestOptions;
}

let counter = 0;

function toError(error: RelayError): Error {
  return error.type === "CancelledError" ? new CancelledError(error.message) : new RequestError(error.message, error.type);
}

/** Sends requests on channels and routes the host's replies back to them. */
export class RelayClient {
  private readonly pending = new Map<string, Pending>();

  constructor(readonly port: Port, onOther: (message: ToView) => void = () => {}) {
    port.onMessage((message) => {
      if (message.type === "reply" || message.type === "progress") this.onReply(message);
      else onOther(message);
    });
  }

  request<R>(channel: string, kind: string, args: Record<string, unknown> = {}, buffers: ArrayBuffer[] = [],
             options: RequestOptions = {}): Promise<Reply<R>> {
    const id = `v${++counter}`;
    return new Promise<Reply<R>>((resolve, reject) => {
      if (options.signal?.aborted) return reject(new CancelledError());
      this.pending.set(id, { resolve, reject, options });
      options.signal?.addEventListener("abort", () => {
        if (this.pending.has(id)) this.port.post({ type: "cancel", id });
      }, { once: true });
      this.port.post({ type: "request", channel, id, kind, args, buffers });
    });
  }

  transport(channel: string): Transport {
    return { request: (kind, args, buffers, options) => this.request(channel, kind, args, buffers, options) };
  }

  close(channel: string): void {
    this.port.post({ type: "close", channel });
  }

  private onReply(message: Extract<ToView, { type: "reply" | "progress" }>): void {
    const entry = this.pending.get(message.id);
    if (!entry) return;
    if (message.type === "progress") return entry.options.onProgress?.(message.progress);
    this.pending.delete(message.id);
    if (message.ok) entry.resolve({ result: message.result, buffers: message.buffers.map(asArrayBuffer) });
    else entry.reject(toError(message.error));
  }
}

/** The Jupyter server, as far as the host is connected to one. */
export class RelayServer implements PanelServer {
  private url = "";

  constructor(private readonly client: RelayClient) {}

  /** What the host said it is connected to ("" when nothing). */
  setUrl(url: string | null): void {
    this.url = url ? url.replace(/\/?$/, "/") : "";
  }

  get baseUrl(): string {
    return this.url;
  }

  get apiUrl(): string {
    return `${this.url}cnnvis/api/`;
  }

  request<R>(kind: string, args?: Record<string, unknown>, buffers?: ArrayBuffer[], options?: RequestOptions) {
    return this.client.request<R>(SERVER_CHANNEL, kind, args, buffers, options);
  }

  withModel(model: string): Transport {
    return new ScopedTransport(this, { model });
  }

  async openModel(path: string, inputs?: string, limit?: number): Promise<OpenedModel> {
    return (await this.request<OpenedModel>("open_model", { path, inputs, limit })).result;
  }

  async listDirectory(dir: string): Promise<string[]> {
    return (await this.request<{ names: string[] }>("list_directory", { dir })).result.names;
  }
}

/** Kernels the host can reach: the active notebooks' (VS Code's Jupyter extension) and the server's. */
export class RelayKernels implements PanelKernels {
  constructor(private readonly client: RelayClient) {}

  async list(): Promise<KernelEntry[]> {
    return (await this.client.request<{ kernels: KernelEntry[] }>(HOST_CHANNEL, "list_kernels")).result.kernels;
  }

  async attach(id: string) {
    const { channel } = (await this.client.request<{ channel: string }>(HOST_CHANNEL, "attach_kernel", { id })).result;
    const inner = this.client.transport(channel);
    const dispose = () => this.client.close(channel);
    return { transport: { request: inner.request, dispose }, dispose };
  }
}
