/** An in-page transport answering from a handler function: for static pages, benchmarks and tests. */
import { Reply, RequestOptions, Transport } from "./types";

export type Handler = (kind: string, args: Record<string, unknown>, buffers: ArrayBuffer[],
                       options: RequestOptions) => Promise<Reply<any>> | Reply<any>;

export class DirectTransport implements Transport {
  constructor(private readonly handler: Handler) {}

  async request<R>(kind: string, args: Record<string, unknown> = {}, buffers: ArrayBuffer[] = [],
                   options: RequestOptions = {}): Promise<Reply<R>> {
    return (await this.handler(kind, args, buffers, options)) as Reply<R>;
  }
}
