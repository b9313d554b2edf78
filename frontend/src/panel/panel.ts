/** The panel application of the JupyterLab sidebar and the full page: pick a source — a logdir or
 * a model file on the server, or a model living in a running kernel — and show it with the same
 * views as the notebook widget. Only the transport differs per source. */
import { ScopedTransport } from "../transport/scoped";
import { Transport } from "../transport/types";
import { CnnvisApp, Summary } from "../views/app";
import { BatchView } from "../views/batch";
import { CompareModelsView } from "../views/compare";
import { DevicesView } from "../views/devices";
import { CompareView } from "../views/engine";
import { linkStack, trainingSection } from "../views/sections";
import { BrowseList, OpenKind, PanelMemory } from "./browse";
import { PanelKernels, PanelServer } from "./sources";

type SourceKind = "browse" | "logdir" | "file" | "kernel" | "devices" | "batch" | "compare";

interface KernelListing {
  models: { name: string; framework: string; type: string; params: number }[];
  inputs: { name: string; shape: number[]; dtype: string; framework: string }[];
}

/** Files the panel opens as models (TensorRT exports are recognised by content on the server). */
export const MODEL_FILE = /\.(pt2|pt|onnx|keras|h5|engine)$|(graph|layer_info|profile)\.json$|\.out$/i;
const INPUT_FILE = /\.(npy|npz)$/i;
/** Inputs shown when a model file is opened with a whole dataset beside it. */
const FILE_INPUTS_LIMIT = 8;

export class CnnvisPanel {
  readonly el: HTMLDivElement;
  private readonly content: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private disposeContent: () => void = () => {};
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;
  private readonly memory: PanelMemory;
  private readonly browse: BrowseList;
  /** Bumped by every open: a slower, older open finishing last must not replace a newer one. */
  private generation = 0;

  constructor(private readonly server: PanelServer | null, private readonly kernels: PanelKernels | null) {
    this.el = document.createElement("div");
    this.el.className = "cnnvis cv-panel-app";
    this.el.innerHTML = `<div class="cv-header"><span class="cv-title">CNN Vis</span></div>
      <div class="cv-tabs cv-sources">
        <button type="button" data-source="browse" title="What is under the server's root">Browse</button>
        <button type="button" data-source="logdir">Logdir</button>
        <button type="button" data-source="file">Model file</button>
        <button type="button" data-source="kernel">Kernel</button>
        <button type="button" data-source="devices">Devices</button>
        <button type="button" data-source="batch">Batch results</button>
        <button type="button" data-source="compare">Compare models</button></div>
      <div class="cv-source" data-source="browse"></div>
      <form class="cv-source cv-toolbar" data-source="logdir">
        <input class="cv-logdir-path" placeholder="logdir, relative to the server root" required>
        <button type="submit">Open</button></form>
      <form class="cv-source cv-toolbar" data-source="file">
        <input class="cv-model-path" placeholder="model file (.pt2, .pt, .onnx, .keras, .h5)" required>
        <input class="cv-model-inputs" placeholder="inputs .npy / .npz (optional)">
        <button type="submit">Open</button>
        <button type="button" class="cv-compare-open" title="Compare the TensorRT engines opened so far">Compare engines</button></form>
      <div class="cv-source cv-toolbar" data-source="kernel">
        <label>Kernel <select class="cv-kernel"></select></label>
        <button type="button" class="cv-kernel-refresh" title="List running kernels">Refresh</button>
        <button type="button" class="cv-kernel-connect">Connect</button>
        <label>Model <select class="cv-kernel-model"></select></label>
        <label>Inputs <select class="cv-kernel-inputs"></select></label>
        <button type="button" class="cv-kernel-inspect">Inspect</button></div>
      <form class="cv-source cv-toolbar" data-source="devices">
        <input class="cv-token-name" placeholder="device name for a new agent token" required>
        <button type="submit">Create token</button>
        <a class="cv-agent-download" download="cnnvis_agent.py">Download agent</a>
        <code class="cv-token" hidden></code></form>
      <form class="cv-source cv-toolbar" data-source="batch">
        <input class="cv-batch-path" placeholder="cnnvis batch output folder (holds results.parquet)" required>
        <button type="submit">Open</button></form>
      <div class="cv-panel-status" role="status"></div>
      <div class="cv-content"></div>`;
    this.content = this.q(".cv-content");
    this.status = this.q(".cv-panel-status");
    this.el.querySelectorAll<HTMLButtonElement>(".cv-sources button").forEach((b) => {
      b.onclick = () => this.showSource(b.dataset.source as SourceKind);
      b.disabled = b.dataset.source === "kernel" ? !kernels : !server;
    });
    this.q<HTMLFormElement>('form[data-source="logdir"]').onsubmit = (e) => {
      e.preventDefault();
      void this.openLogdir(this.q<HTMLInputElement>(".cv-logdir-path").value.trim());
    };
    this.q<HTMLFormElement>('form[data-source="file"]').onsubmit = (e) => {
      e.preventDefault();
      const inputs = this.q<HTMLInputElement>(".cv-model-inputs").value.trim();
      void this.openModel(this.q<HTMLInputElement>(".cv-model-path").value.trim(), inputs || null);
    };
    this.q<HTMLFormElement>('form[data-source="devices"]').onsubmit = (e) => {
      e.preventDefault();
      void this.createToken(this.q<HTMLInputElement>(".cv-token-name").value.trim());
    };
    this.q<HTMLFormElement>('form[data-source="batch"]').onsubmit = (e) => {
      e.preventDefault();
      void this.openBatch(this.q<HTMLInputElement>(".cv-batch-path").value.trim());
    };
    if (server) this.q<HTMLAnchorElement>(".cv-agent-download").href = `${server.apiUrl}agent/cnnvis_agent.py`;
    this.q<HTMLButtonElement>(".cv-kernel-refresh").onclick = () => void this.listKernels();
    this.q<HTMLButtonElement>(".cv-compare-open").onclick = () => void this.pickEngines();
    this.q<HTMLButtonElement>(".cv-kernel-connect").onclick = () => void this.connectKernel();
    this.q<HTMLButtonElement>(".cv-kernel-inspect").onclick = () => void this.inspectKernelModel();
    this.memory = new PanelMemory(`cnnvis:panel:${server?.baseUrl ?? ""}`);
    this.browse = new BrowseList(server, kernels, this.memory, (kind, path) => void this.openKind(kind, path),
      (kernel) => void this.connectTo(kernel));
    this.q<HTMLDivElement>('.cv-source[data-source="browse"]').appendChild(this.browse.el);
    this.showSource(server ? "browse" : "kernel");
  }

  /** Reopens what was open before the page was reloaded (nothing when the user already picked). */
  async restore(): Promise<void> {
    const last = this.memory.last();
    if (!last || !this.server || this.generation !== 0) return;
    await this.openKind(last.kind, last.path);
    // Gone since (moved, deleted): back to the list, the reason still in the status line.
    if (this.status.classList.contains("cv-error") && !this.content.dataset.showing) this.showSource("browse");
  }

  private openKind(kind: OpenKind, path: string): Promise<void> {
    if (kind === "logdir") return this.openLogdir(path);
    if (kind === "batch") return this.openBatch(path);
    return this.openModel(path, undefined);
  }

  /** The Kernel source with `kernel` picked and connected. */
  private async connectTo(kernel: string): Promise<void> {
    this.showSource("kernel");
    await this.listKernels();
    this.q<HTMLSelectElement>(".cv-kernel").value = kernel;
    await this.connectKernel();
  }

  /** Mounts `el` unless a newer open started meanwhile; remembers what was opened. */
  private settle(generation: number, el: HTMLElement, dispose: () => void, label: string,
                 remember?: [OpenKind, string]): void {
    if (generation !== this.generation) return dispose();
    this.mount(el, dispose, label);
    if (remember) { this.memory.remember(...remember); this.browse.render(); }
  }

  /** What "Open in CNN Vis" calls: folders are logdirs (batch results when they hold a
   * results.parquet), known model files are models. */
  async openPath(path: string, isDirectory: boolean): Promise<void> {
    if (isDirectory && await this.holdsBatchResults(path)) return this.openBatch(path);
    if (isDirectory) return this.openLogdir(path);
    return this.openModel(path, undefined);
  }

  showSource(kind: SourceKind): void {
    this.el.querySelectorAll<HTMLElement>(".cv-source").forEach((s) => { s.hidden = s.dataset.source !== kind; });
    this.el.querySelectorAll<HTMLButtonElement>(".cv-sources button").forEach((b) => {
      b.classList.toggle("active", b.dataset.source === kind);
    });
    this.el.dataset.source = kind;
    if (kind === "kernel" && !this.q<HTMLSelectElement>(".cv-kernel").options.length) void this.listKernels();
    if (kind === "browse" && !this.browse.el.dataset.state) void this.browse.refresh();
    if (kind === "devices") this.showDevices();
    if (kind === "compare" && this.server && this.content.dataset.showing !== "Compare models") {
      this.generation++;
      const view = new CompareModelsView(this.server);
      this.mount(view.el, () => view.dispose(), "Compare models");
    }
  }

  /** Jetson boards streaming to this server: live charts of the one picked. */
  showDevices(): void {
    if (!this.server || this.content.dataset.showing === "Devices") return;
    this.generation++;
    const view = new DevicesView(this.server);
    this.mount(view.el, () => view.dispose(), "Devices");
    void view.start();
  }

  /** Issues a device token; it is shown once, with the command that starts the agent. */
  private async createToken(name: string): Promise<void> {
    if (!this.server || !name) return;
    await this.guard(`Creating a token for ${name}…`, async () => {
      const reply = await this.server!.request<{ name: string; token: string }>("create_token", { name });
      const box = this.q<HTMLElement>(".cv-token");
      const url = new URL(this.server!.baseUrl, window.location.href).href;
      box.textContent = `CNNVIS_AGENT_TOKEN=${reply.result.token} python3 cnnvis_agent.py --server ${url} --name ${name}`;
      box.hidden = false;
      this.setStatus("Copy the token now: it is not shown again.");
    });
  }

  async openLogdir(logdir: string): Promise<void> {
    if (!this.server || !logdir) return;
    this.showSource("logdir");
    this.q<HTMLInputElement>(".cv-logdir-path").value = logdir;
    const generation = ++this.generation;
    await this.guard(`Reading ${logdir}…`, async () => {
      await this.server!.request("runs", { logdir }); // a wrong path fails here, with the server's message
      if (generation !== this.generation) return;
      const section = trainingSection(this.server!, logdir);
      this.settle(generation, section.el, section.dispose, `Logdir ${logdir}`, ["logdir", logdir]);
    });
  }

  /** The gallery of a `cnnvis batch` output folder: per class, worst faithfulness first. */
  async openBatch(dir: string): Promise<void> {
    if (!this.server || !dir) return;
    this.showSource("batch");
    this.q<HTMLInputElement>(".cv-batch-path").value = dir;
    const generation = ++this.generation;
    await this.guard(`Reading ${dir}…`, async () => {
      const view = new BatchView(this.server!, dir);
      await view.start();
      if (view.el.dataset.state === "error") throw new Error(view.el.querySelector(".cv-batch-order")!.textContent ?? "");
      this.settle(generation, view.el, () => view.dispose(), `Batch ${dir}`, ["batch", dir]);
    });
  }

  private async holdsBatchResults(dir: string): Promise<boolean> {
    try {
      return (await this.server!.listDirectory(dir)).includes("results.parquet");
    } catch {
      return false; // no contents API access: treat it as a logdir, as before
    }
  }

  /** ``inputs`` undefined: take the first .npy/.npz beside the model, if any; null: none. */
  async openModel(path: string, inputs: string | null | undefined): Promise<void> {
    if (!this.server || !path) return;
    this.showSource("file");
    this.q<HTMLInputElement>(".cv-model-path").value = path;
    const generation = ++this.generation;
    await this.guard(`Opening ${path}…`, async () => {
      const chosen = inputs === undefined ? await this.inputsBeside(path) : inputs;
      this.q<HTMLInputElement>(".cv-model-inputs").value = chosen ?? "";
      const opened = await this.server!.openModel(path, chosen ?? undefined, FILE_INPUTS_LIMIT);
      if (generation !== this.generation) return;
      const transport = this.server!.withModel(opened.id);
      this.showModel(transport, { ...opened, has_model: true }, () => {});
      this.memory.remember("model", path);
      this.browse.render();
    });
  }

  private listings = 0;

  /** Refreshes the kernel list, keeping the user's pick. Only the newest listing is applied: an
   * older one finishing last must not replace the options (and the pick) under the user. */
  async listKernels(): Promise<void> {
    if (!this.kernels) return;
    const select = this.q<HTMLSelectElement>(".cv-kernel");
    const listing = ++this.listings;
    await this.guard("Listing kernels…", async () => {
      const entries = await this.kernels!.list();
      if (listing !== this.listings) return;
      const picked = select.value;
      select.replaceChildren(...entries.map((k) => new Option(k.label, k.id)));
      if (entries.some((k) => k.id === picked)) select.value = picked;
      this.setStatus(entries.length ? "" : "No running kernels: open a notebook first.");
    });
  }

  private kernelLink: { transport: Transport & { dispose(): void }; dispose: () => void } | null = null;

  /** Connects to the chosen kernel and lists the models and input arrays in its namespace. */
  async connectKernel(): Promise<void> {
    if (!this.kernels) return;
    const id = this.q<HTMLSelectElement>(".cv-kernel").value;
    if (!id) return this.setStatus("Pick a running kernel first.", true);
    await this.guard("Connecting to the kernel…", async () => {
      this.kernelLink?.dispose();
      this.kernelLink = null;
      this.kernelLink = await this.kernels!.attach(id);
      this.el.dataset.kernel = id;
      await this.refreshKernelModels();
    });
  }

  private async refreshKernelModels(): Promise<void> {
    const listing = (await this.kernelLink!.transport.request<KernelListing>("kernel_models")).result;
    const models = this.q<HTMLSelectElement>(".cv-kernel-model");
    models.replaceChildren(...listing.models.map((m) =>
      new Option(`${m.name} (${m.type}, ${m.params.toLocaleString()} params)`, m.name)));
    const inputs = this.q<HTMLSelectElement>(".cv-kernel-inputs");
    inputs.replaceChildren(new Option("none", ""), ...listing.inputs.map((a) =>
      new Option(`${a.name} ${a.shape.join("×")}`, a.name)));
    if (listing.inputs.length) inputs.value = listing.inputs[0].name;
    this.setStatus(listing.models.length ? `${listing.models.length} model(s) in the kernel.`
      : "No torch or Keras model in this kernel's namespace yet: define one in a cell, then Refresh.");
  }

  /** Shows the chosen kernel model; connects first if needed. */
  async inspectKernelModel(name?: string, inputs?: string | null): Promise<void> {
    if (!this.kernelLink) await this.connectKernel();
    if (!this.kernelLink) return;
    const modelName = name ?? this.q<HTMLSelectElement>(".cv-kernel-model").value;
    if (!modelName) return this.setStatus("Pick a model first.", true);
    const inputName = inputs === undefined ? this.q<HTMLSelectElement>(".cv-kernel-inputs").value : inputs;
    this.generation++;
    await this.guard(`Attaching to ${modelName}…`, async () => {
      const link = this.kernelLink!;
      const reply = await link.transport.request<Summary & { model: string }>(
        "attach", { name: modelName, inputs: inputName || null });
      this.showModel(new ScopedTransport(link.transport, { model: reply.result.model }),
        { ...reply.result, has_model: true }, () => {});
    });
  }

  private showModel(transport: Transport, summary: Summary, dispose: () => void): void {
    const app = new CnnvisApp(transport, summary, { selected_layer: "", method: "gradcam", target: null, theme: "auto" });
    linkStack(app, transport);
    this.mount(app.el, dispose, `${summary.name ?? "model"}`);
    void app.start();
  }

  private mount(el: HTMLElement, dispose: () => void, label: string): void {
    this.disposeContent();
    this.content.replaceChildren(el);
    this.disposeContent = dispose;
    this.content.dataset.showing = label;
    this.setStatus("");
  }

  private async inputsBeside(path: string): Promise<string | null> {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    try {
      const names = await this.server!.listDirectory(dir);
      const found = names.filter((n) => INPUT_FILE.test(n)).sort();
      return found.length ? (dir ? `${dir}/${found[0]}` : found[0]) : null;
    } catch {
      return null; // no contents API access: open without inputs (graph only)
    }
  }

  private async guard(message: string, work: () => Promise<void>): Promise<void> {
    this.setStatus(message);
    try {
      await work();
    } catch (err) {
      this.setStatus((err as Error).message, true);
    }
  }

  private setStatus(message: string, error = false): void {
    this.status.textContent = message;
    this.status.classList.toggle("cv-error", error);
  }

  /** Lists the engines the server has open, all ticked, to compare side by side. */
  async pickEngines(): Promise<void> {
    if (!this.server) return;
    await this.guard("Listing open engines…", async () => {
      const reply = await this.server!.request<{ models: { id: string; name: string; framework: string;
        source: string | null }[] }>("models");
      // A file opened again is listed once (its latest opening).
      const engines = [...new Map(reply.result.models.filter((m) => m.framework === "tensorrt")
        .map((m) => [m.source ?? m.id, m])).values()];
      if (engines.length < 2) throw new Error("Open two or more TensorRT exports (graph.json or trtexec logs) first.");
      const picker = document.createElement("div");
      picker.className = "cv-compare-picker";
      for (const m of engines) {
        const label = document.createElement("label");
        label.innerHTML = '<input type="checkbox" checked> ';
        (label.firstChild as HTMLInputElement).value = m.id;
        label.append(m.source ?? m.name);
        picker.appendChild(label);
      }
      const go = document.createElement("button");
      go.type = "button";
      go.className = "cv-compare-run";
      go.textContent = "Compare";
      go.onclick = () => void this.compareEngines(
        [...picker.querySelectorAll<HTMLInputElement>("input:checked")].map((i) => i.value));
      picker.appendChild(go);
      this.mount(picker, () => {}, "Compare engines");
    });
  }

  async compareEngines(ids: string[]): Promise<void> {
    if (!this.server) return;
    this.generation++;
    await this.guard(`Comparing ${ids.length} engines…`, async () => {
      const view = await CompareView.load(this.server!, ids);
      this.mount(view.el, () => {}, "Engine comparison");
      view.render();
    });
  }

  dispose(): void {
    this.browse.dispose();
    this.disposeContent();
    this.kernelLink?.dispose();
  }
}
