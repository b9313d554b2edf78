/** Transport over the Jupyter server extension's REST API (`{base_url}cnnvis/api/`): files,
 * logdirs and jobs. Authentication (token, XSRF cookie) comes from @jupyterlab/services'
 * ServerConnection, so it works in JupyterLab, on the full page and behind a JupyterHub prefix. */
import { ServerConnection } from "@jupyterlab/services";
import { REPLY_MIME, parseReplyFrames } from "./frames";
import type { OpenedModel, PanelServer } from "../panel/sources";
import { CancelledError, Reply, RequestError, RequestOptions } from "./types";

type Args = Record<string, unknown>;

interface Route {
  method: "GET" | "POST" | "DELETE";
  path: (args: Args, model: string) => string;
  /** GET: the query keys sent; POST: the body is the args minus `model`. */
  query?: string[];
  /** The reply carries buffers: ask for the framed form. */
  framed?: boolean;
  /** Reshapes a route's JSON into the kind's result (where the REST form differs). */
  result?: (json: any) => unknown;
}

const modelPath = (suffix: string) => (_: Args, model: string) => `models/${encodeURIComponent(model)}/${suffix}`;

const ROUTES: Record<string, Route> = {
  status: { method: "GET", path: () => "status" },
  browse: { method: "GET", path: () => "browse", query: ["refresh"] },
  models: { method: "GET", path: () => "models" },
  runs: { method: "GET", path: () => "runs", query: ["logdir"] },
  alerts: { method: "GET", path: () => "alerts", query: ["logdir"] },
  scalars: { method: "GET", path: () => "scalars", query: ["logdir", "run", "tag", "points", "smoothing", "since"] },
  scalar_updates: { method: "GET", path: () => "scalars/updates", query: ["logdir", "cursors", "points"] },
  histograms: { method: "GET", path: () => "histograms", query: ["logdir", "run", "tag", "limit"] },
  images: { method: "GET", path: () => "images", query: ["logdir", "run", "tag", "step", "limit"] },
  devices: { method: "GET", path: () => "devices", result: (list) => ({ devices: list }) },
  device_samples: { method: "GET", path: (args) => `devices/${encodeURIComponent(String(args.device))}/samples`,
    query: ["since", "limit"] },
  tokens: { method: "GET", path: () => "tokens" },
  create_token: { method: "POST", path: () => "tokens" },
  /** Closes an open model: `{closed, models}` (the ids still open). */
  close: { method: "DELETE", path: (_: Args, model: string) => `models/${encodeURIComponent(model)}` },
  graph: { method: "GET", path: modelPath("graph") },
  activations: { method: "POST", path: modelPath("activations"), framed: true },
  explain: { method: "POST", path: modelPath("explain"), framed: true },
  profile: { method: "GET", path: modelPath("profile") },
  run_profile: { method: "POST", path: modelPath("profile") },
  source_graph: { method: "GET", path: modelPath("source-graph"), query: ["source", "source_model"] },
  compare: { method: "POST", path: () => "compare" },
  sanity: { method: "POST", path: modelPath("sanity") },
  faithfulness: { method: "POST", path: modelPath("faithfulness") },
  attribute: { method: "POST", path: modelPath("attribute"), framed: true },
  concepts: { method: "POST", path: modelPath("concepts"), framed: true },
  batch_results: { method: "GET", path: () => "batch/results", query: ["dir", "method", "class", "metric", "limit"],
    framed: true },
  /** Start jobs (`{id, url}`); `job` reads one's progress and result. */
  compare_models: { method: "POST", path: () => "compare/models" },
  quantize: { method: "POST", path: () => "quantize" },
  job: { method: "GET", path: (args) => `jobs/${encodeURIComponent(String(args.job))}` },
};

export class ServerTransport implements PanelServer {
  readonly settings: ServerConnection.ISettings;

  /** `model`: the id the server gave an opened model file; requests about a model go to it. */
  constructor(settings?: ServerConnection.ISettings, readonly model = "") {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  /** The same server, talking about another model. */
  withModel(model: string): ServerTransport {
    return new ServerTransport(this.settings, model);
  }

  get baseUrl(): string {
    return this.settings.baseUrl;
  }

  get apiUrl(): string {
    return `${this.settings.baseUrl.replace(/\/?$/, "/")}cnnvis/api/`;
  }

  async request<R>(kind: string, args: Args = {}, _buffers: ArrayBuffer[] = [],
                   options: RequestOptions = {}): Promise<Reply<R>> {
    const route = ROUTES[kind];
    if (!route) throw new RequestError(`The server transport has no route for ${kind}.`, "BadRequest");
    const model = String(args.model ?? this.model);
    let url = this.apiUrl + route.path(args, model);
    const init: RequestInit = { method: route.method, signal: options.signal, headers: {} };
    if (route.framed) (init.headers as Record<string, string>).Accept = REPLY_MIME;
    if (route.method === "GET") {
      const query = new URLSearchParams();
      for (const key of route.query ?? []) {
        const value = args[key];
        if (value !== undefined && value !== null) query.set(key, typeof value === "object" ? JSON.stringify(value) : String(value));
      }
      if ([...query.keys()].length) url += `?${query}`;
    } else if (route.method === "POST") {
      const { model: _omit, device: _device, ...body } = args;
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["Content-Type"] = "application/json";
    }
    const reply = await this.fetch<R>(url, init, route.framed ?? false);
    if (route.result) reply.result = route.result(reply.result) as R;
    return kind === "images" ? this.withImages(reply as Reply<any>, options) : reply;
  }

  /** The images reply lists a URL per image; the views want the bytes as buffers, like the widget's. */
  private async withImages(reply: Reply<any>, options: RequestOptions): Promise<Reply<any>> {
    const images = reply.result.images as { url: string; buffer?: number }[] | undefined;
    if (!images) return reply;
    const buffers = await Promise.all(images.map(async (m, i) => {
      m.buffer = i;
      // The server answers root-relative URLs; ServerConnection only takes ones under its base URL.
      // (No `window` in VS Code's extension host, which runs this transport too: its baseUrl is absolute.)
      const url = new URL(m.url, new URL(this.settings.baseUrl, globalThis.location?.href)).href;
      const response = await ServerConnection.makeRequest(url, { signal: options.signal }, this.settings);
      if (!response.ok) throw new RequestError(`Image ${m.url} could not be read (HTTP ${response.status}).`);
      return response.arrayBuffer();
    }));
    return { result: reply.result, buffers };
  }

  /** Opens a model file under the server's root: its id, for `withModel`. */
  async openModel(path: string, inputs?: string, limit?: number): Promise<OpenedModel> {
    const body: Args = { path };
    if (inputs) body.inputs = inputs;
    if (inputs && limit) body.inputs_limit = limit;
    const reply = await this.fetch<OpenedModel>(this.apiUrl + "models", {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    }, false);
    // Models stay open while the page shows them (engine and model comparisons use several at once; the
    // server caps how many stay open, least recently used first). Every one this page opened is closed
    // when the page goes away.
    this.opened.add(reply.result.id);
    if (!this.closesOnLeave && typeof window !== "undefined") { // not in VS Code's extension host
      this.closesOnLeave = true;
      window.addEventListener("pagehide", () => {
        for (const id of [...this.opened]) void this.closeModel(id, true);
      });
    }
    return reply.result;
  }

  private opened = new Set<string>();
  private closesOnLeave = false;

  /** Closes a model this panel opened; a model the server already closed (404) is no error. */
  async closeModel(id: string, keepalive = false): Promise<void> {
    this.opened.delete(id);
    try {
      await this.fetch(this.apiUrl + `models/${encodeURIComponent(id)}`, { method: "DELETE", keepalive }, false);
    } catch { /* already closed (evicted, or the server restarted): nothing left to free */ }
  }

  /** Names in a folder under the server root (Jupyter's contents API). */
  async listDirectory(dir: string): Promise<string[]> {
    const path = dir.split("/").filter(Boolean).map(encodeURIComponent).join("/");
    const url = `${this.settings.baseUrl.replace(/\/?$/, "/")}api/contents/${path}?content=1`;
    const reply = await this.fetch<{ content: { name: string }[] }>(url, { method: "GET" }, false);
    return reply.result.content.map((c) => c.name);
  }

  private async fetch<R>(url: string, init: RequestInit, framed: boolean): Promise<Reply<R>> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      if ((err as Error).name === "AbortError" || init.signal?.aborted) throw new CancelledError();
      throw new RequestError(`The Jupyter server did not answer: ${(err as Error).message}`, "NetworkError");
    }
    if (!response.ok) {
      let message = response.statusText;
      let type = `HTTP ${response.status}`;
      try {
        const data = await response.json();
        message = data.message ?? message;
        type = data.reason ?? type;
      } catch { /* not JSON: keep the status text */ }
      throw new RequestError(message || `HTTP ${response.status}`, type);
    }
    if (framed && (response.headers.get("Content-Type") ?? "").startsWith(REPLY_MIME)) {
      return parseReplyFrames<R>(await response.arrayBuffer());
    }
    return { result: (await response.json()) as R, buffers: [] };
  }
}
