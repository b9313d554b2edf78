/** Web Worker entry: lays out graphs off the main thread. Bundled separately and inlined. */
import { layered, LayoutInput } from "./layered";

const scope = self as unknown as DedicatedWorkerGlobalScope;
scope.onmessage = (event: MessageEvent<{ id: number; input: LayoutInput }>) => {
  const { id, input } = event.data;
  try {
    const out = layered(input);
    scope.postMessage({ id, out }, [out.x.buffer, out.y.buffer, out.pointStart.buffer, out.points.buffer]);
  } catch (err) {
    scope.postMessage({ id, error: String(err) });
  }
};
