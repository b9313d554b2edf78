/** The VS Code webview view "CNN Vis": the same panel application as the lab sidebar, with its
 * server and kernel sources relayed through the extension host (see ../transport/relay.ts). */
import "../views/style.css";
import "../panel/panel.css";
import "./webview.css";
import { CnnvisPanel } from "../panel/panel";
import { ToHost, ToView, isToView } from "../transport/relay";
import { Port, RelayClient, RelayKernels, RelayServer } from "../transport/vscode";

declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

function vscodePort(): Port {
  const api = acquireVsCodeApi();
  return {
    post: (message: ToHost) => api.postMessage(message),
    onMessage: (listener) => window.addEventListener("message", (event) => {
      if (isToView(event.data)) listener(event.data);
    }),
  };
}

/** A line above the panel for what the host reports (a refused token, an unreachable server). */
function noticeBar(): HTMLDivElement {
  const bar = document.createElement("div");
  bar.className = "cv-vscode-notice";
  bar.setAttribute("role", "alert");
  bar.hidden = true;
  return bar;
}

/** A kernel the host chose (the active notebook's): pick it in the Kernel source and connect. */
async function openKernel(panel: CnnvisPanel, id: string): Promise<void> {
  panel.showSource("kernel");
  await panel.listKernels();
  const select = panel.el.querySelector<HTMLSelectElement>(".cv-kernel")!;
  if (![...select.options].some((o) => o.value === id)) return;
  select.value = id;
  await panel.connectKernel();
}

function start(): void {
  const notice = noticeBar();
  let server: RelayServer;
  let panel: CnnvisPanel;
  const onHostMessage = (message: ToView) => {
    if (message.type === "notice") {
      notice.textContent = message.message;
      notice.hidden = !message.message;
      notice.classList.toggle("cv-error", message.error);
    } else if (message.type === "server") {
      server.setUrl(message.url);
      document.body.dataset.server = message.url ?? "";
    } else if (message.type === "open") {
      if (message.source === "logdir" && message.path) void panel.openLogdir(message.path);
      else if (message.source === "model" && message.path) void panel.openModel(message.path, undefined);
      else if (message.source === "kernel" && message.kernel) void openKernel(panel, message.kernel);
    }
  };
  const client = new RelayClient(vscodePort(), onHostMessage);
  server = new RelayServer(client);
  panel = new CnnvisPanel(server, new RelayKernels(client));
  document.body.classList.add("cnnvis-vscode");
  document.getElementById("cnnvis-root")!.replaceChildren(notice, panel.el);
  (window as any).cnnvisPanel = panel; // for tests
  client.port.post({ type: "ready" });
}

start();
