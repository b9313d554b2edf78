/** The protocol inside a notebook's kernel reached through VS Code's Jupyter extension, which offers
 * `executeCode` and no comms: each message becomes one execute of cnnvis's entry point
 * (cnnvis/notebook/vscode.py) and every output of mime type FRAME_MIME is a message back. Framing on
 * both legs is the panel's reply framing ("CNVR"), so arrays stay bytes. */
import { AnywidgetTransport, CommModel } from "../../frontend/src/transport/anywidget";
import { parseReplyFrames } from "../../frontend/src/transport/frames";

export const FRAME_MIME = "application/x-cnnvis-frame";
/** How VS Code hands a kernel's error output to extensions: JSON {name, message, stack}. */
export const ERROR_MIME = "application/vnd.code.notebook.error";

export interface OutputItem {
  mime: string;
  data: Uint8Array;
}

/** Runs code in the kernel and yields its outputs (`kernel.executeCode` bound to a cancellation token). */
export type RunCode = (code: string) => AsyncIterable<{ items: OutputItem[] }>;

type Listener = (content: unknown, buffers: ArrayBuffer[]) => void;

/** "CNVR", u32 JSON length, JSON, u32 buffer count, then u32 length + bytes per buffer (little-endian). */
export function encodeFrame(content: unknown, buffers: ArrayBuffer[] = []): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(content));
  const size = 12 + json.length + buffers.reduce((n, b) => n + 4 + b.byteLength, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("CNVR"), 0);
  view.setUint32(4, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  view.setUint32(at, buffers.length, true);
  at += 4;
  for (const buffer of buffers) {
    view.setUint32(at, buffer.byteLength, true);
    out.set(new Uint8Array(buffer), at + 4);
    at += 4 + buffer.byteLength;
  }
  return out;
}

/** The code one message runs as; the frame is base64, so no quoting can break out of the string. */
export function requestCode(frame: Uint8Array): string {
  const payload = Buffer.from(frame).toString("base64");
  return `import cnnvis.notebook.vscode as _cnnvis_vscode\n_cnnvis_vscode.handle("${payload}")\ndel _cnnvis_vscode`;
}

/** One FRAME_MIME output item. The kernel displays base64 text, which VS Code hands over as that
 * text's UTF-8 bytes (JSON-quoted by some versions); raw frame bytes are accepted too. */
export function decodeFrameItem(data: Uint8Array) {
  const bytes = new Uint8Array(data);
  const head = new TextDecoder().decode(bytes.subarray(0, 4));
  if (head === "CNVR") return parseReplyFrames<Record<string, unknown>>(bytes.buffer as ArrayBuffer);
  let text = new TextDecoder().decode(bytes).trim();
  if (text.startsWith('"')) text = JSON.parse(text) as string;
  const frame = Buffer.from(text, "base64");
  return parseReplyFrames<Record<string, unknown>>(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer);
}

/** Turns a kernel's error into what the user should do about it. */
export function explainKernelError(name: string, message: string): string {
  if (name === "ModuleNotFoundError" && /cnnvis/.test(message)) {
    return `cnnvis is not installed in this notebook's kernel (${message}). Install it there: %pip install cnnvis`;
  }
  return `The kernel could not answer: ${name}: ${message}`;
}

/** Executes as a comm: what the protocol sends runs in the kernel, what comes back is emitted. */
class ExecuteAsComm implements CommModel {
  private readonly listeners = new Set<Listener>();

  constructor(private readonly run: RunCode) {}

  on(_event: string, cb: Listener): void {
    this.listeners.add(cb);
  }

  off(_event?: string | null, cb?: Listener | null): void {
    if (cb) this.listeners.delete(cb);
    else this.listeners.clear();
  }

  send(content: unknown, _callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void {
    // A cancel would queue behind the very execute it means to stop: the kernel runs one at a time.
    if ((content as { cancel?: unknown }).cancel !== undefined) return;
    void this.execute(content as { id: string }, (buffers ?? []) as ArrayBuffer[]);
  }

  private emit(content: unknown, buffers: ArrayBuffer[]): void {
    for (const cb of this.listeners) cb(content, buffers);
  }

  private async execute(content: { id: string }, buffers: ArrayBuffer[]): Promise<void> {
    let answered = false;
    let failure = "";
    try {
      for await (const output of this.run(requestCode(encodeFrame(content, buffers)))) {
        for (const item of output.items) {
          if (item.mime === FRAME_MIME) {
            const reply = decodeFrameItem(item.data);
            answered ||= !("progress" in reply.result);
            this.emit(reply.result, reply.buffers);
          } else if (item.mime === ERROR_MIME) {
            const error = JSON.parse(new TextDecoder().decode(item.data)) as { name?: string; message?: string };
            failure = explainKernelError(error.name ?? "Error", error.message ?? "");
          }
        }
      }
    } catch (err) {
      failure = `The kernel could not run the request: ${(err as Error).message}`;
    }
    if (!answered) {
      const message = failure || "The kernel finished without an answer: is it a Python kernel with cnnvis installed?";
      this.emit({ id: content.id, ok: false, error: { type: "KernelError", message } }, []);
    }
  }
}

/** The widget's protocol over `executeCode`: the anywidget transport on an execute-backed channel. */
export class ExecuteTransport extends AnywidgetTransport {
  constructor(run: RunCode) {
    super(new ExecuteAsComm(run));
  }
}
