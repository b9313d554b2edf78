/** A Jupyter server reached from the extension host by URL + token: the panel's own server
 * transport and kernel source (@jupyterlab/services runs in Node, given a WebSocket class), so
 * routes, framing and kernel comms behave exactly as in the JupyterLab sidebar. */
import { KernelManager, ServerConnection, SessionManager } from "@jupyterlab/services";
import WebSocket from "ws";
import { KernelSource } from "../../frontend/src/panel/kernels";
import { ServerTransport } from "../../frontend/src/transport/server";

export interface ServerLink {
  url: string;
  server: ServerTransport;
  kernels: KernelSource;
  dispose(): void;
}

/** A connection problem, worded for the user. */
export class ConnectError extends Error {}

/** `localhost:8888` and `http://host/prefix` alike, always ending in "/". */
export function normaliseUrl(raw: string): string {
  let url = raw.trim();
  if (!/^https?:\/\//i.test(url)) url = `http://${url}`;
  const parsed = new URL(url); // throws on nonsense, which the caller reports
  parsed.search = "";
  parsed.hash = "";
  return parsed.href.replace(/\/?$/, "/");
}

type Fetch = typeof fetch;

/** Asks the server who we are before anything else, so a wrong token or a server without cnnvis
 * gets a message that says so instead of a blank panel. */
export async function checkServer(url: string, token: string, fetcher: Fetch = fetch): Promise<void> {
  const headers = { Authorization: `token ${token}` };
  let response: Response;
  try {
    response = await fetcher(`${url}api/status`, { headers });
  } catch (err) {
    throw new ConnectError(`Could not reach a Jupyter server at ${url} (${(err as Error).message}). ` +
      "Is it running, and is the URL right?");
  }
  if (response.status === 401 || response.status === 403) {
    throw new ConnectError(`The Jupyter server at ${url} refused the token (HTTP ${response.status}). ` +
      "Run “CNN Vis: Connect to Jupyter Server” again with the server's token (`jupyter server list` shows it).");
  }
  if (!response.ok) {
    throw new ConnectError(`${url} did not answer like a Jupyter server (HTTP ${response.status} for api/status).`);
  }
  const cnnvis = await fetcher(`${url}cnnvis/api/status`, { headers });
  if (cnnvis.status === 404) {
    throw new ConnectError(`The Jupyter server at ${url} does not have the cnnvis extension: ` +
      "pip install cnnvis in the server's environment and restart it.");
  }
  if (!cnnvis.ok) throw new ConnectError(`cnnvis on ${url} answered HTTP ${cnnvis.status}.`);
}

export async function connectServer(rawUrl: string, token: string): Promise<ServerLink> {
  let url: string;
  try {
    url = normaliseUrl(rawUrl);
  } catch {
    throw new ConnectError(`“${rawUrl}” is not a URL: give the Jupyter server's address, e.g. http://localhost:8888/`);
  }
  await checkServer(url, token);
  const settings = ServerConnection.makeSettings({
    baseUrl: url, wsUrl: url.replace(/^http/, "ws"), appUrl: url, token, appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    // Node's fetch has no HTTP cache to bypass and no cookies to send.
    init: {},
  });
  const kernelManager = new KernelManager({ serverSettings: settings });
  const sessions = new SessionManager({ kernelManager, serverSettings: settings });
  return {
    url,
    server: new ServerTransport(settings),
    kernels: new KernelSource(sessions, kernelManager),
    dispose: () => {
      sessions.dispose();
      kernelManager.dispose();
    },
  };
}
