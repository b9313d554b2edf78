/** Kernels of the notebooks open in VS Code, through the Jupyter extension's public API
 * (`kernels.getKernel(uri)` and `executeCode`). VS Code asks the user once to let CNN Vis use them. */
import * as vscode from "vscode";
import type { Jupyter } from "@vscode/jupyter-extension";
import type { KernelEntry, PanelKernels } from "../../frontend/src/panel/sources";
import { RequestError } from "../../frontend/src/transport/types";
import { ExecuteTransport } from "./execute";

export const JUPYTER_EXTENSION = "ms-toolsai.jupyter";

export async function jupyterApi(): Promise<Jupyter | null> {
  const extension = vscode.extensions.getExtension<Jupyter>(JUPYTER_EXTENSION);
  if (!extension) return null;
  return extension.isActive ? extension.exports : await extension.activate();
}

function label(uri: vscode.Uri): string {
  return uri.path.slice(uri.path.lastIndexOf("/") + 1) || uri.toString();
}

export class NotebookKernels implements PanelKernels {
  async list(): Promise<KernelEntry[]> {
    const api = await jupyterApi();
    if (!api) return [];
    const entries: KernelEntry[] = [];
    for (const doc of vscode.workspace.notebookDocuments) {
      const kernel = await api.kernels.getKernel(doc.uri);
      if (kernel && kernel.language === "python") entries.push({ id: doc.uri.toString(), label: label(doc.uri) });
    }
    return entries;
  }

  async attach(id: string) {
    const api = await jupyterApi();
    if (!api) throw new RequestError(`VS Code's Jupyter extension (${JUPYTER_EXTENSION}) is not installed.`, "NotFound");
    const kernel = await api.kernels.getKernel(vscode.Uri.parse(id));
    if (!kernel) throw new RequestError("This notebook has no running kernel: run a cell first.", "NotFound");
    const cancel = new vscode.CancellationTokenSource();
    const transport = new ExecuteTransport((code) => kernel.executeCode(code, cancel.token));
    const dispose = () => {
      transport.dispose();
      cancel.cancel();
      cancel.dispose();
    };
    return { transport, dispose };
  }
}
