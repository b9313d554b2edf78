/** Transport over a Jupyter kernel comm (target `cnnvis`) to models living in a notebook's kernel.
 * The comm carries the widget's message protocol, so the anywidget transport runs on it unchanged:
 * this file only makes a kernel comm look like anywidget's model. */
import { Kernel, KernelMessage } from "@jupyterlab/services";
import { AnywidgetTransport, CommModel } from "./anywidget";
import { RequestError } from "./types";

export const COMM_TARGET = "cnnvis";

/** Registers the kernel side without the user importing anything (a silent execute). */
export const REGISTER_CODE = "import cnnvis.notebook.kernel as _cnnvis_kernel\n_cnnvis_kernel.register()\ndel _cnnvis_kernel";

type Listener = (content: unknown, buffers: (ArrayBuffer | DataView)[]) => void;

class CommAsModel implements CommModel {
  private listeners = new Set<Listener>();

  constructor(private readonly comm: Kernel.IComm) {
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
      for (const cb of this.listeners) cb(msg.content.data, (msg.buffers ?? []) as (ArrayBuffer | DataView)[]);
    };
  }

  send(content: unknown, _callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void {
    this.comm.send(content as any, undefined, (buffers ?? []) as (ArrayBuffer | ArrayBufferView)[]);
  }

  on(_event: string, cb: Listener): void {
    this.listeners.add(cb);
  }

  off(_event?: string | null, cb?: Listener | null): void {
    if (cb) this.listeners.delete(cb);
    else this.listeners.clear();
  }
}

export class KernelTransport extends AnywidgetTransport {
  private constructor(private readonly comm: Kernel.IComm) {
    super(new CommAsModel(comm));
  }

  /** Registers cnnvis in ``kernel`` and opens the comm; errors say what to install where. */
  static async open(kernel: Kernel.IKernelConnection): Promise<KernelTransport> {
    const future = kernel.requestExecute({ code: REGISTER_CODE, silent: true, store_history: false });
    let error = "";
    future.onIOPub = (msg) => {
      if (msg.header.msg_type === "error") {
        const content = msg.content as KernelMessage.IErrorMsg["content"];
        error = `${content.ename}: ${content.evalue}`;
      }
    };
    const reply = await future.done;
    if (reply.content.status !== "ok" || error) {
      const detail = error || (reply.content as any).evalue || reply.content.status;
      throw new RequestError(/No module named/.test(detail)
        ? `cnnvis is not installed in this kernel's environment (${detail}). Install it there: pip install cnnvis`
        : `Could not start cnnvis in the kernel: ${detail}`, "KernelError");
    }
    const comm = kernel.createComm(COMM_TARGET);
    await comm.open({}).done;
    return new KernelTransport(comm);
  }

  dispose(): void {
    super.dispose();
    if (!this.comm.isDisposed) {
      try { this.comm.close(); } catch { /* the kernel may be gone already */ }
    }
  }
}
