/** What the panel application needs of its two sources, so each host supplies its own: the lab
 * sidebar and the full page talk to the server and its kernels directly, the VS Code webview
 * relays the same calls through its extension host. */
import { Transport } from "../transport/types";

/** A model file the server opened: its id names it in later requests. */
export interface OpenedModel {
  id: string;
  name: string;
  framework: string;
  inputs: number[] | null;
}

/** Files, logdirs, jobs and devices of a Jupyter server with the cnnvis extension. */
export interface PanelServer extends Transport {
  /** `{base_url}cnnvis/api/` as a URL the panel's page can link to. */
  readonly apiUrl: string;
  /** The server's base URL, as the Jetson agent should dial it. */
  readonly baseUrl: string;
  /** The same server, talking about an opened model. */
  withModel(model: string): Transport;
  openModel(path: string, inputs?: string, limit?: number): Promise<OpenedModel>;
  /** Names in a folder under the server root. */
  listDirectory(dir: string): Promise<string[]>;
}

export interface KernelEntry {
  id: string;
  label: string;
}

/** Running kernels and a protocol channel into one of them. */
export interface PanelKernels {
  list(): Promise<KernelEntry[]>;
  attach(id: string): Promise<{ transport: Transport & { dispose(): void }; dispose: () => void }>;
}
