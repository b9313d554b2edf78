/** Path 1's framing: protocol messages as executes of cnnvis's kernel entry point, replies as
 * outputs of a custom mime type, checked against a fake `executeCode` and a frame made by Python. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseReplyFrames } from "../../frontend/src/transport/frames";
import { ERROR_MIME, ExecuteTransport, FRAME_MIME, OutputItem, decodeFrameItem, encodeFrame, requestCode } from "../src/execute";

// to_reply_frames({"id": "a", "ok": True, "result": {"n": 1}}, [b"\x01\x02\x03"]) in cnnvis.services.codec
const PYTHON_FRAME = "434e56522b0000007b226964223a202261222c20226f6b223a20747275652c2022726573756c74223a207b226e223a20317d7d0100000003000000010203";

const asText = (frame: Uint8Array) => new TextEncoder().encode(Buffer.from(frame).toString("base64"));

/** The request a piece of code carries, as the kernel's handle() reads it. */
function requestOf(code: string) {
  const payload = /handle\("([A-Za-z0-9+/=]*)"\)/.exec(code)![1];
  const frame = Buffer.from(payload, "base64");
  return parseReplyFrames<any>(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer);
}

test("frames read the same in TypeScript and Python", () => {
  const python = new Uint8Array(Buffer.from(PYTHON_FRAME, "hex"));
  const decoded = decodeFrameItem(python);
  assert.deepEqual(decoded.result, { id: "a", ok: true, result: { n: 1 } });
  assert.deepEqual([...new Uint8Array(decoded.buffers[0])], [1, 2, 3]);
  const ours = encodeFrame({ id: "a", ok: true, result: { n: 1 } }, [new Uint8Array([1, 2, 3]).buffer]);
  assert.deepEqual(parseReplyFrames<any>(ours.buffer as ArrayBuffer).result, decoded.result);
});

test("an output item may be base64 text, JSON-quoted base64, or raw bytes", () => {
  const frame = encodeFrame({ id: "b" }, [new Uint8Array([9]).buffer]);
  for (const data of [asText(frame), new TextEncoder().encode(JSON.stringify(Buffer.from(frame).toString("base64"))), frame]) {
    const reply = decodeFrameItem(data);
    assert.deepEqual(reply.result, { id: "b" });
    assert.deepEqual([...new Uint8Array(reply.buffers[0])], [9]);
  }
});

test("the request code imports the entry point and carries the frame in base64", () => {
  const code = requestCode(encodeFrame({ id: "r1", kind: "graph", args: { model: "net\"'" } }));
  assert.match(code, /^import cnnvis\.notebook\.vscode as _cnnvis_vscode\n/);
  assert.deepEqual(requestOf(code).result, { id: "r1", kind: "graph", args: { model: "net\"'" } });
});

test("a request runs in the kernel and its progress and reply come back with buffers", async () => {
  const codes: string[] = [];
  const transport = new ExecuteTransport(async function* (code) {
    codes.push(code);
    const { result, buffers } = requestOf(code);
    const item = (content: unknown, b: ArrayBuffer[] = []): OutputItem => ({ mime: FRAME_MIME, data: asText(encodeFrame(content, b)) });
    yield { items: [{ mime: "text/plain", data: new TextEncoder().encode("noise") }, item({ id: result.id, progress: { done: 1, total: 2 } })] };
    yield { items: [item({ id: result.id, ok: true, result: { kind: result.kind, sent: buffers.length } }, [new Uint8Array([7, 8]).buffer])] };
  });
  const progress: number[] = [];
  const reply = await transport.request<any>("activations", { model: "net" }, [new Uint8Array([1]).buffer],
    { onProgress: (p) => progress.push(p.done) });
  assert.deepEqual(reply.result, { kind: "activations", sent: 1 });
  assert.deepEqual([...new Uint8Array(reply.buffers[0])], [7, 8]);
  assert.deepEqual(progress, [1]);
  assert.equal(codes.length, 1);
  transport.dispose();
});

test("a kernel without cnnvis gets a message that says what to install", async () => {
  const transport = new ExecuteTransport(async function* () {
    const error = { name: "ModuleNotFoundError", message: "No module named 'cnnvis'", stack: "" };
    yield { items: [{ mime: ERROR_MIME, data: new TextEncoder().encode(JSON.stringify(error)) }] };
  });
  await assert.rejects(transport.request("kernel_models"), (err: any) => /pip install cnnvis/.test(err.message) && err.kind === "KernelError");
});

test("an execute that ends without an answer, or fails to run, rejects instead of hanging", async () => {
  const silent = new ExecuteTransport(async function* () { yield { items: [] }; });
  await assert.rejects(silent.request("graph"), /without an answer/);
  const broken = new ExecuteTransport(() => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("kernel died")) }) }));
  await assert.rejects(broken.request("graph"), /kernel died/);
});
