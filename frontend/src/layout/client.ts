/** Runs the layout in a Web Worker built from inlined code (anywidget loads a single ES module, so
 * the worker cannot be a separate file); falls back to the main thread where workers are blocked. */
import workerSource from "cnnvis:layout-worker";
import { layered, LayoutInput, LayoutOutput } from "./layered";

let worker: Worker | null | undefined;
let seq = 0;
const waiting = new Map<number, { resolve: (o: LayoutOutput) => void; reject: (e: Error) => void }>();

function getWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
    worker = new Worker(url);
    worker.onmessage = (event: MessageEvent<{ id: number; out?: LayoutOutput; error?: string }>) => {
      const entry = waiting.get(event.data.id);
      waiting.delete(event.data.id);
      if (!entry) return;
      if (event.data.out) entry.resolve(event.data.out);
      else entry.reject(new Error(event.data.error ?? "layout failed"));
    };
    worker.onerror = () => {
      // A worker that cannot start (CSP) fails every job: retry them on the main thread.
      worker = null;
      for (const [id, entry] of waiting) { waiting.delete(id); entry.reject(new Error("worker failed")); }
    };
  } catch {
    worker = null;
  }
  return worker;
}

export async function layout(input: LayoutInput): Promise<LayoutOutput> {
  const w = getWorker();
  if (!w) return layered(input);
  const id = ++seq;
  try {
    return await new Promise<LayoutOutput>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      w.postMessage({ id, input }); // copied, not transferred: the fallback may still need it
    });
  } catch {
    return layered(input);
  }
}
