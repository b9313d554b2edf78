/** The extension host's side of the relay (frontend/src/transport/relay.ts): answers the webview's
 * requests from the sources the host has — a Jupyter server it connected to, and kernels (the
 * active notebooks' through VS Code's Jupyter extension, the server's through kernel comms).
 * Nothing here imports `vscode`, so the unit tests drive it directly. */
import type { PanelKernels, PanelServer } from "../../frontend/src/panel/sources";
import { HOST_CHANNEL, SERVER_CHANNEL, ToHost, ToView, asArrayBuffer, isToHost } from "../../frontend/src/transport/relay";
import { Reply, RequestError, RequestOptions, Transport } from "../../frontend/src/transport/types";

export interface HostSources {
  /** The connected Jupyter server, or null. */
  server(): PanelServer | null;
  kernels: PanelKernels;
}

export const NOT_CONNECTED = "Not connected to a Jupyter server: run “CNN Vis: Connect to Jupyter Server” " +
  "from the Command Palette (or set cnnvis.serverUrl), then try again.";

type Args = Record<string, unknown>;
type Link = { transport: Transport; dispose: () => void };

export class HostRelay {
  private readonly channels = new Map<string, Link>();
  private readonly running = new Map<string, AbortController>();
  private nextChannel = 0;

  /** `onReady`: the webview (re)started and wants the current state. */
  constructor(private readonly post: (message: ToView) => void, private readonly sources: HostSources,
              private readonly onReady: () => void = () => {}) {}

  /** One message from the webview; anything else it posts is ignored. */
  async handle(message: unknown): Promise<void> {
    if (!isToHost(message)) return;
    if (message.type === "ready") this.onReady();
    else if (message.type === "cancel") this.running.get(message.id)?.abort();
    else if (message.type === "close") this.closeChannel(message.channel);
    else await this.answer(message);
  }

  dispose(): void {
    for (const channel of [...this.channels.keys()]) this.closeChannel(channel);
    for (const controller of this.running.values()) controller.abort();
  }

  private async answer(message: Extract<ToHost, { type: "request" }>): Promise<void> {
    const controller = new AbortController();
    this.running.set(message.id, controller);
    const options: RequestOptions = {
      signal: controller.signal,
      onProgress: (progress) => this.post({ type: "progress", id: message.id, progress }),
    };
    try {
      const buffers = (message.buffers ?? []).map(asArrayBuffer);
      const reply = await this.route(message.channel, message.kind, message.args ?? {}, buffers, options);
      this.post({ type: "reply", id: message.id, ok: true, result: reply.result, buffers: reply.buffers.map(asArrayBuffer) });
    } catch (err) {
      const error = err as Error & { kind?: string };
      this.post({ type: "reply", id: message.id, ok: false,
        error: { message: error.message || String(err), type: error.kind ?? error.name ?? "Error" } });
    } finally {
      this.running.delete(message.id);
    }
  }

  private route(channel: string, kind: string, args: Args, buffers: ArrayBuffer[],
                options: RequestOptions): Promise<Reply<unknown>> {
    if (channel === SERVER_CHANNEL) return this.serverRequest(kind, args, buffers, options);
    if (channel === HOST_CHANNEL) return this.hostRequest(kind, args);
    const link = this.channels.get(channel);
    if (!link) throw new RequestError("This kernel connection is closed: connect to the kernel again.", "NotConnected");
    return link.transport.request(kind, args, buffers, options);
  }

  /** The server transport's kinds, and the panel's two file helpers as kinds of their own. */
  private async serverRequest(kind: string, args: Args, buffers: ArrayBuffer[],
                              options: RequestOptions): Promise<Reply<unknown>> {
    const server = this.sources.server();
    if (!server) throw new RequestError(NOT_CONNECTED, "NotConnected");
    if (kind === "open_model") {
      const inputs = typeof args.inputs === "string" && args.inputs ? args.inputs : undefined;
      const limit = typeof args.limit === "number" ? args.limit : undefined;
      return { result: await server.openModel(String(args.path ?? ""), inputs, limit), buffers: [] };
    }
    if (kind === "list_directory") {
      return { result: { names: await server.listDirectory(String(args.dir ?? "")) }, buffers: [] };
    }
    return server.request(kind, args, buffers, options);
  }

  private async hostRequest(kind: string, args: Args): Promise<Reply<unknown>> {
    if (kind === "list_kernels") return { result: { kernels: await this.sources.kernels.list() }, buffers: [] };
    if (kind === "attach_kernel") {
      const link = await this.sources.kernels.attach(String(args.id ?? ""));
      const channel = `kernel:${++this.nextChannel}`;
      this.channels.set(channel, link);
      return { result: { channel }, buffers: [] };
    }
    throw new RequestError(`The extension host has no request ${kind}.`, "BadRequest");
  }

  private closeChannel(channel: string): void {
    const link = this.channels.get(channel);
    this.channels.delete(channel);
    try {
      link?.dispose();
    } catch { /* the kernel may be gone already */ }
  }
}
