/** Kernels from several places in one list: each source's ids get a prefix, so `attach` knows
 * where an id came from. A source that fails to list (a server gone away) does not hide the others. */
import type { KernelEntry, PanelKernels } from "../../frontend/src/panel/sources";
import { RequestError } from "../../frontend/src/transport/types";

export interface KernelPart {
  prefix: string;
  /** Shown after each label, e.g. "Jupyter server". */
  where: string;
  source: () => PanelKernels | null;
}

export class CombinedKernels implements PanelKernels {
  constructor(private readonly parts: KernelPart[]) {}

  async list(): Promise<KernelEntry[]> {
    const lists = await Promise.all(this.parts.map(async (part) => {
      const source = part.source();
      if (!source) return [];
      try {
        const entries = await source.list();
        return entries.map((e) => ({ id: part.prefix + e.id, label: `${e.label} — ${part.where}` }));
      } catch {
        return [];
      }
    }));
    return lists.flat();
  }

  attach(id: string) {
    const part = this.parts.find((p) => id.startsWith(p.prefix));
    const source = part?.source();
    if (!part || !source) {
      return Promise.reject(new RequestError(`Kernel ${id} is not reachable any more: refresh the list.`, "NotFound"));
    }
    return source.attach(id.slice(part.prefix.length));
  }
}
