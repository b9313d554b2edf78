/** Running kernels the panel can attach to, named after the notebook or console using them. */
import { Kernel, Session } from "@jupyterlab/services";
import { KernelTransport } from "../transport/kernel";
import { KernelEntry, PanelKernels } from "./sources";

export type { KernelEntry } from "./sources";

export class KernelSource implements PanelKernels {
  constructor(private readonly sessions: Session.IManager, private readonly kernels: Kernel.IManager) {}

  async list(): Promise<KernelEntry[]> {
    await Promise.all([this.sessions.refreshRunning(), this.kernels.refreshRunning()]);
    const entries = new Map<string, KernelEntry>();
    for (const s of this.sessions.running()) {
      if (s.kernel) entries.set(s.kernel.id, { id: s.kernel.id, label: `${s.path || s.name} (${s.kernel.name})` });
    }
    for (const k of this.kernels.running()) {
      if (!entries.has(k.id)) entries.set(k.id, { id: k.id, label: `kernel ${k.id.slice(0, 8)} (${k.name})` });
    }
    return [...entries.values()];
  }

  /** A connection to the kernel (shutting it down is not ours to do) and the comm over it. */
  async attach(id: string): Promise<{ transport: KernelTransport; dispose: () => void }> {
    const model = [...this.kernels.running()].find((k) => k.id === id);
    if (!model) throw new Error(`Kernel ${id} is not running any more.`);
    // The notebook's own connection handles the kernel's comms (its widgets among them); this one
    // must not, or it would close every comm it has no target for (see transport/kernel.ts).
    const kernel = this.kernels.connectTo({ model, handleComms: false });
    try {
      const transport = await KernelTransport.open(kernel);
      return { transport, dispose: () => { transport.dispose(); kernel.dispose(); } };
    } catch (err) {
      kernel.dispose();
      throw err;
    }
  }
}
