/** A transport that adds fixed args (the model a view talks about) to every request. */
import { Reply, RequestOptions, Transport } from "./types";

export class ScopedTransport implements Transport {
  constructor(private readonly inner: Transport, private readonly fixed: Record<string, unknown>) {}

  request<R>(kind: string, args: Record<string, unknown> = {}, buffers: ArrayBuffer[] = [],
             options: RequestOptions = {}): Promise<Reply<R>> {
    return this.inner.request<R>(kind, { ...this.fixed, ...args }, buffers, options);
  }
}
