/** The CNN Vis extension: an activity-bar view hosting the panel application, and the commands
 * that point it at a Jupyter server, a notebook's kernel, a model file or a logdir. The server's
 * token lives in VS Code's secret storage, keyed by the server URL; the URL is a setting. */
import * as vscode from "vscode";
import type { ToView } from "../../frontend/src/transport/relay";
import { CombinedKernels } from "./kernels";
import { JUPYTER_EXTENSION, NotebookKernels, jupyterApi } from "./notebook";
import { ConnectError, ServerLink, connectServer, normaliseUrl } from "./server-link";
import { PanelViewProvider, VIEW_ID } from "./view";

const SECRET_PREFIX = "cnnvis.token:";

class Extension {
  private link: ServerLink | null = null;
  private notice: ToView = { type: "notice", message: "", error: false };
  readonly provider: PanelViewProvider;

  constructor(private readonly context: vscode.ExtensionContext) {
    const kernels = new CombinedKernels([
      { prefix: "notebook:", where: "VS Code notebook", source: () => new NotebookKernels() },
      { prefix: "server:", where: "Jupyter server", source: () => this.link?.kernels ?? null },
    ]);
    this.provider = new PanelViewProvider(context.extensionUri, { server: () => this.link?.server ?? null, kernels },
      () => [{ type: "server", url: this.link?.url ?? null }, this.notice]);
  }

  private async say(message: string, error = false): Promise<void> {
    this.notice = { type: "notice", message, error };
    await this.provider.post(this.notice);
    if (error) void vscode.window.showErrorMessage(`CNN Vis: ${message}`);
  }

  /** Connects with the URL and token given, or the saved ones; a failure is said in the view. */
  async connect(url: string, token: string): Promise<boolean> {
    this.link?.dispose();
    this.link = null;
    await this.provider.post({ type: "server", url: null });
    await this.say(`Connecting to ${url}…`);
    try {
      this.link = await connectServer(url, token);
    } catch (err) {
      await this.say(err instanceof ConnectError ? err.message : `Could not connect: ${(err as Error).message}`, true);
      return false;
    }
    await this.provider.post({ type: "server", url: this.link.url });
    await this.say(`Connected to ${this.link.url}`);
    return true;
  }

  async connectSaved(): Promise<void> {
    const url = vscode.workspace.getConfiguration("cnnvis").get<string>("serverUrl", "");
    if (!url) return;
    const token = await this.context.secrets.get(SECRET_PREFIX + safeUrl(url));
    if (token !== undefined) await this.connect(url, token);
  }

  async connectCommand(): Promise<void> {
    const config = vscode.workspace.getConfiguration("cnnvis");
    const url = await vscode.window.showInputBox({
      title: "CNN Vis: Jupyter server URL", prompt: "The Jupyter server with the cnnvis extension",
      value: config.get<string>("serverUrl", "") || "http://localhost:8888/", ignoreFocusOut: true,
    });
    if (!url) return;
    const token = await vscode.window.showInputBox({
      title: "CNN Vis: Jupyter server token", prompt: "The server's token (`jupyter server list` shows it)",
      password: true, ignoreFocusOut: true,
    });
    if (token === undefined) return;
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
    if (!(await this.connect(url, token))) return;
    await this.context.secrets.store(SECRET_PREFIX + this.link!.url, token);
    await config.update("serverUrl", this.link!.url, vscode.ConfigurationTarget.Global);
  }

  async attachKernelCommand(): Promise<void> {
    const notebook = vscode.window.activeNotebookEditor?.notebook;
    if (!notebook) return void this.say("Open a notebook (and run a cell) first, then attach to its kernel.", true);
    const api = await jupyterApi();
    if (!api) {
      return void this.say(`Attaching to a notebook's kernel needs VS Code's Jupyter extension (${JUPYTER_EXTENSION}). ` +
        "Without it, connect to a Jupyter server and attach to its kernels instead.", true);
    }
    if (!(await api.kernels.getKernel(notebook.uri))) {
      return void this.say("This notebook has no running kernel yet: run a cell, then attach again.", true);
    }
    await this.provider.post({ type: "open", source: "kernel", kernel: `notebook:${notebook.uri.toString()}` }, true);
  }

  async openCommand(source: "model" | "logdir", uri?: vscode.Uri): Promise<void> {
    const what = source === "model" ? "model file (.pt2, .pt, .onnx, .keras, .h5, .engine)" : "TensorBoard logdir";
    const path = uri ? this.serverPath(uri) : await vscode.window.showInputBox({
      title: `CNN Vis: open a ${what}`, prompt: "A path relative to the Jupyter server's root", ignoreFocusOut: true,
    });
    if (!path) return;
    if (!this.link) await this.connectSaved();
    await this.provider.post({ type: "open", source, path }, true);
  }

  /** A file picked in the Explorer, as a path under the server root (the workspace folder's). */
  private serverPath(uri: vscode.Uri): string {
    return vscode.workspace.asRelativePath(uri, false);
  }

  dispose(): void {
    this.link?.dispose();
  }
}

function safeUrl(url: string): string {
  try {
    return normaliseUrl(url);
  } catch {
    return url;
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const extension = new Extension(context);
  const register = (id: string, run: (...args: any[]) => Promise<void>) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, run));
  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(VIEW_ID, extension.provider, { webviewOptions: { retainContextWhenHidden: true } }),
    { dispose: () => extension.dispose() },
  );
  register("cnnvis.connectServer", () => extension.connectCommand());
  register("cnnvis.attachKernel", () => extension.attachKernelCommand());
  register("cnnvis.openModel", (uri?: vscode.Uri) => extension.openCommand("model", uri));
  register("cnnvis.openLogdir", (uri?: vscode.Uri) => extension.openCommand("logdir", uri));
  void extension.connectSaved();
}

export function deactivate(): void {}
