/** The "CNN Vis" webview view: the panel bundle under a strict Content-Security-Policy (scripts
 * only from the extension by nonce, no network access from the page), relayed by a HostRelay. */
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import type { ToView } from "../../frontend/src/transport/relay";
import { HostRelay, HostSources } from "./relay";

export const VIEW_ID = "cnnvis.panel";

export function viewHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString("base64");
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "out", name));
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // The views set element styles from code (echarts, layout); no remote stylesheet is admitted.
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    // CAMs and training images are drawn from bytes the host relayed (blob:, data:).
    `img-src ${webview.cspSource} data: blob:`,
    `font-src ${webview.cspSource}`,
    // The graph layout runs in a worker made from a string bundled with the panel.
    "worker-src blob:",
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${asset("webview.css")}">
<title>CNN Vis</title></head>
<body><div id="cnnvis-root"></div>
<script nonce="${nonce}" src="${asset("webview.js")}"></script></body></html>`;
}

/** Hosts the panel; messages for a view not yet shown wait until its page says it is ready. */
export class PanelViewProvider implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | null = null;
  private ready = false;
  private queued: ToView[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly sources: HostSources,
              private readonly state: () => ToView[]) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, "out")] };
    const relay = new HostRelay((m) => void view.webview.postMessage(m), this.sources, () => this.onReady());
    view.webview.onDidReceiveMessage((m) => void relay.handle(m));
    view.onDidDispose(() => {
      relay.dispose();
      if (this.view === view) this.view = null;
    });
    view.webview.html = viewHtml(view.webview, this.extensionUri);
  }

  /** Posts now if the page is up, else after it starts; reveals the view first when asked. */
  async post(message: ToView, reveal = false): Promise<void> {
    if (reveal) await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    if (this.view && this.ready) await this.view.webview.postMessage(message);
    else this.queued.push(message);
  }

  private onReady(): void {
    this.ready = true;
    const pending = [...this.state(), ...this.queued];
    this.queued = [];
    for (const message of pending) void this.view?.webview.postMessage(message);
  }
}
