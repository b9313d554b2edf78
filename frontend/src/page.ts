/** The full page at `{base_url}cnnvis/` (`jupyter cnnvis`, remote attach, VS Code's browser): the
 * same panel application as the lab sidebar, over the same server. `?logdir=`, `?model=` (with
 * `&inputs=`) and `?kernel=` open a source directly. */
import "./views/style.css";
import "./panel/panel.css";
import { KernelManager, ServerConnection, SessionManager } from "@jupyterlab/services";
import { KernelSource } from "./panel/kernels";
import { CnnvisPanel } from "./panel/panel";
import { ServerTransport } from "./transport/server";

function start(): void {
  const baseUrl = document.body.dataset.baseUrl ?? "/";
  const settings = ServerConnection.makeSettings({ baseUrl, wsUrl: "", appUrl: baseUrl });
  const kernelManager = new KernelManager({ serverSettings: settings });
  const sessions = new SessionManager({ kernelManager, serverSettings: settings });
  const panel = new CnnvisPanel(new ServerTransport(settings), new KernelSource(sessions, kernelManager));
  document.body.classList.add("cnnvis-page");
  document.getElementById("cnnvis-root")!.replaceChildren(panel.el);
  const query = new URLSearchParams(window.location.search);
  if (query.get("logdir")) void panel.openLogdir(query.get("logdir")!);
  else if (query.get("model")) void panel.openModel(query.get("model")!, query.get("inputs") ?? undefined);
  else if (query.get("kernel")) panel.showSource("kernel");
  else void panel.restore(); // what was open before a reload
  (window as any).cnnvisPanel = panel; // for scripted pages and tests
}

start();
