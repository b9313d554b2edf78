/** Transport over a Jupyter kernel comm (target `cnnvis`) to models living in a notebook's kernel.
 * The comm carries the widget's message protocol, so the anywidget transport runs on it unchanged:
 * this file only makes a kernel comm look like anywidget's model.
 *
 * The sidebar shares the kernel with the notebook's own connection (and its widgets). So its
 * connection does not handle comms (`handleComms: false`): a connection that did would also take
 * the kernel's `comm_open` of every `%cnnvis` widget, find no `jupyter.widget` target of its own,
 * close that comm in the kernel and release the per-target subshell the notebook's connection uses.
 * Instead this comm is spoken by hand: `comm_open` / `comm_msg` / `comm_close` on the shell channel
 * (no subshell), and replies picked off IOPub by this comm's id alone. */
import { Kernel, KernelMessage } from "@jupyterlab/services";
import { AnywidgetTransport, CommModel } from "./anywidget";
import { RequestError } from "./types";

export const COMM_TARGET = "cnnvis";

/** Registers the kernel side without the user importing anything (a silent execute). */
export const REGISTER_CODE = "import cnnvis.notebook.kernel as _cnnvis_kernel\n_cnnvis_kernel.register()\ndel _cnnvis_kernel";

/** crypto.randomUUID needs a secure context; a JupyterLab served over plain http has none. */
function newCommId(): string {
  if (typeof crypto !== "undefined" && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const hex = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
  return `${hex()}${hex()}-${hex()}-${hex()}-${hex()}-${hex()}${hex()}${hex()}`;
}

type Listener = (content: unknown, buffers: (ArrayBuffer | DataView)[]) => void;
type CommMsgType = "comm_open" | "comm_msg" | "comm_close";

/** One comm of ours on a connection that leaves every other comm alone. */
export class KernelComm implements CommModel {
  readonly commId = newCommId();
  private listeners = new Set<Listener>();
  private closed = false;
  /** Called once when the kernel closes the comm (a restart, or the kernel side going away). */
  onClose: () => void = () => {};

  constructor(private readonly kernel: Kernel.IKernelConnection, private readonly target: string) {
    kernel.iopubMessage.connect(this.onIOPub, this);
  }

  /** Opens the comm; resolves once the kernel has handled the open (its target ran). */
  async open(): Promise<void> {
    await this.sendShell("comm_open", { comm_id: this.commId, target_name: this.target, data: {} }).done;
  }

  send(content: unknown, _callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void {
    if (this.closed) throw new RequestError("The kernel connection is closed.", "KernelError");
    this.sendShell("comm_msg", { comm_id: this.commId, data: content }, (buffers ?? []) as (ArrayBuffer | ArrayBufferView)[]);
  }

  on(_event: string, cb: Listener): void {
    this.listeners.add(cb);
  }

  off(_event?: string | null, cb?: Listener | null): void {
    if (cb) this.listeners.delete(cb);
    else this.listeners.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kernel.iopubMessage.disconnect(this.onIOPub, this);
    if (!this.kernel.isDisposed) {
      try { this.sendShell("comm_close", { comm_id: this.commId, data: {} }); } catch { /* kernel gone */ }
    }
  }

  private sendShell(msgType: CommMsgType, content: Record<string, unknown>,
                    buffers: (ArrayBuffer | ArrayBufferView)[] = []): Kernel.IShellFuture {
    const msg = KernelMessage.createMessage({
      msgType, channel: "shell", username: this.kernel.username, session: this.kernel.clientId,
      content: content as any, buffers,
    } as any) as unknown as KernelMessage.IShellMessage;
    return this.kernel.sendShellMessage(msg, false, true);
  }

  /** IOPub is broadcast to every connection of the kernel: only messages of this comm are ours. */
  private onIOPub(_: Kernel.IKernelConnection, msg: KernelMessage.IIOPubMessage): void {
    const type = msg.header.msg_type;
    if (type !== "comm_msg" && type !== "comm_close") return;
    const content = msg.content as { comm_id?: string; data?: unknown };
    if (content.comm_id !== this.commId) return;
    if (type === "comm_close") {
      this.closed = true;
      this.kernel.iopubMessage.disconnect(this.onIOPub, this);
      this.onClose();
      return;
    }
    for (const cb of this.listeners) cb(content.data, (msg.buffers ?? []) as (ArrayBuffer | DataView)[]);
  }
}

export class KernelTransport extends AnywidgetTransport {
  private constructor(private readonly comm: KernelComm) {
    super(comm);
    comm.onClose = () => this.dispose();
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
    const comm = new KernelComm(kernel, COMM_TARGET);
    await comm.open();
    return new KernelTransport(comm);
  }

  dispose(): void {
    super.dispose();
    this.comm.close();
  }
}
