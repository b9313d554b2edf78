/** The webview ↔ extension host relay, both ends in one process: messages pass through
 * structuredClone as postMessage would pass them, so ArrayBuffers must survive as bytes. */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { OpenedModel, PanelKernels, PanelServer } from "../../frontend/src/panel/sources";
import type { ToHost, ToView } from "../../frontend/src/transport/relay";
import { CancelledError, Reply, RequestOptions, Transport } from "../../frontend/src/transport/types";
import { RelayClient, RelayKernels, RelayServer } from "../../frontend/src/transport/vscode";
import { CombinedKernels } from "../src/kernels";
import { HostRelay, HostSources, NOT_CONNECTED } from "../src/relay";

const bytes = (...values: number[]) => new Uint8Array(values).buffer;
const list = (b: ArrayBuffer) => [...new Uint8Array(b)];

/** Answers like the server transport: echoes kind, args and buffers (reversed bytes). */
class FakeServer implements PanelServer {
  apiUrl = "http://server/cnnvis/api/";
  baseUrl = "http://server/";
  seen: string[] = [];
  async request<R>(kind: string, args: Record<string, unknown> = {}, buffers: ArrayBuffer[] = [],
                   options: RequestOptions = {}): Promise<Reply<R>> {
    this.seen.push(kind);
    if (kind === "slow") {
      options.onProgress?.({ done: 1, total: 2 });
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 5000);
        const cancel = () => { clearTimeout(timer); reject(new CancelledError()); };
        if (options.signal?.aborted) cancel();
        options.signal?.addEventListener("abort", cancel);
      });
    }
    if (kind === "broken") throw Object.assign(new Error("No such logdir: x"), { kind: "NotFound" });
    return { result: { kind, args } as R, buffers: buffers.map((b) => bytes(...list(b).reverse())) };
  }
  withModel(): Transport { return this; }
  async openModel(path: string, inputs?: string, limit?: number): Promise<OpenedModel> {
    return { id: `m-${path}-${inputs}-${limit}`, name: path, framework: "torch", inputs: null };
  }
  async listDirectory(dir: string): Promise<string[]> { return [`${dir}/a.npz`]; }
}

class FakeKernels implements PanelKernels {
  disposed = 0;
  async list() { return [{ id: "k1", label: "nb.ipynb (python3)" }]; }
  async attach(id: string) {
    const transport = { request: async <R>(kind: string) => ({ result: { kernel: id, kind } as R, buffers: [] }),
      dispose: () => {} };
    return { transport, dispose: () => { this.disposed++; } };
  }
}

function wire(sources: HostSources) {
  const toView: ((m: ToView) => void)[] = [];
  const others: ToView[] = [];
  let relay: HostRelay;
  const client = new RelayClient({
    post: (m: ToHost) => void relay.handle(structuredClone(m)),
    onMessage: (listener) => toView.push(listener),
  }, (m) => others.push(m));
  let ready = 0;
  relay = new HostRelay((m) => toView.forEach((l) => l(structuredClone(m))), sources, () => { ready++; });
  return { client, relay, others, ready: () => ready };
}

test("server requests carry args and buffers both ways", async () => {
  const server = new FakeServer();
  const { client } = wire({ server: () => server, kernels: new FakeKernels() });
  const remote = new RelayServer(client);
  const reply = await remote.request<any>("explain", { model: "m1", target: 3 }, [bytes(1, 2, 3)]);
  assert.deepEqual(reply.result, { kind: "explain", args: { model: "m1", target: 3 } });
  assert.equal(reply.buffers.length, 1);
  assert.ok(reply.buffers[0] instanceof ArrayBuffer);
  assert.deepEqual(list(reply.buffers[0]), [3, 2, 1]);
  assert.deepEqual((await remote.withModel("m9").request<any>("graph")).result.args, { model: "m9" });
});

test("the panel's file helpers go through as kinds of their own", async () => {
  const { client } = wire({ server: () => new FakeServer(), kernels: new FakeKernels() });
  const remote = new RelayServer(client);
  assert.equal((await remote.openModel("demo/model.pt2", "demo/x.npz", 8)).id, "m-demo/model.pt2-demo/x.npz-8");
  assert.equal((await remote.openModel("m.pt2")).id, "m-m.pt2-undefined-undefined");
  assert.deepEqual(await remote.listDirectory("demo"), ["demo/a.npz"]);
  remote.setUrl("http://host:8888/lab");
  assert.equal(remote.apiUrl, "http://host:8888/lab/cnnvis/api/");
});

test("without a server every server request says how to connect", async () => {
  const { client } = wire({ server: () => null, kernels: new FakeKernels() });
  await assert.rejects(new RelayServer(client).request("runs", { logdir: "runs" }),
    (err: any) => err.message === NOT_CONNECTED && err.kind === "NotConnected");
});

test("errors keep their message and type", async () => {
  const { client } = wire({ server: () => new FakeServer(), kernels: new FakeKernels() });
  await assert.rejects(new RelayServer(client).request("broken"),
    (err: any) => err.message === "No such logdir: x" && err.kind === "NotFound");
});

test("progress is forwarded and an abort cancels the host's request", async () => {
  const server = new FakeServer();
  const { client } = wire({ server: () => server, kernels: new FakeKernels() });
  const controller = new AbortController();
  const seen: number[] = [];
  const pending = new RelayServer(client).request("slow", {}, [], {
    signal: controller.signal, onProgress: (p) => { seen.push(p.done); controller.abort(); } });
  await assert.rejects(pending, (err: any) => err instanceof CancelledError);
  assert.deepEqual(seen, [1]);
});

test("kernels are listed, attached on a channel of their own, and closed", async () => {
  const kernels = new FakeKernels();
  const { client } = wire({ server: () => null, kernels });
  const remote = new RelayKernels(client);
  assert.deepEqual(await remote.list(), [{ id: "k1", label: "nb.ipynb (python3)" }]);
  const link = await remote.attach("k1");
  assert.deepEqual((await link.transport.request<any>("kernel_models")).result, { kernel: "k1", kind: "kernel_models" });
  link.dispose();
  await new Promise((r) => setImmediate(r));
  assert.equal(kernels.disposed, 1);
  await assert.rejects(link.transport.request("graph"), /connection is closed/);
});

test("ready and unknown messages", async () => {
  const { relay, ready, others } = wire({ server: () => null, kernels: new FakeKernels() });
  await relay.handle({ type: "ready" });
  await relay.handle({ type: "nonsense" });
  await relay.handle(null);
  assert.equal(ready(), 1);
  assert.deepEqual(others, []);
});

test("combined kernels prefix ids, route attach, and survive a failing source", async () => {
  const failing: PanelKernels = { list: async () => { throw new Error("gone"); }, attach: async () => { throw new Error("gone"); } };
  const combined = new CombinedKernels([
    { prefix: "notebook:", where: "VS Code notebook", source: () => new FakeKernels() },
    { prefix: "server:", where: "Jupyter server", source: () => failing },
    { prefix: "none:", where: "nowhere", source: () => null },
  ]);
  assert.deepEqual(await combined.list(), [{ id: "notebook:k1", label: "nb.ipynb (python3) — VS Code notebook" }]);
  const link = await combined.attach("notebook:k1");
  assert.deepEqual((await link.transport.request<any>("x")).result.kernel, "k1");
  await assert.rejects(combined.attach("none:k"), /not reachable/);
});
