/** The one message protocol, as the views see it: a request kind, JSON args and binary buffers in,
 * a JSON result and binary buffers out. Transports (anywidget comm, HTTP, in-page) implement it. */

export interface Progress {
  done: number;
  total: number;
}

export interface Reply<R = Record<string, unknown>> {
  result: R;
  buffers: ArrayBuffer[];
}

export interface RequestOptions {
  onProgress?: (p: Progress) => void;
  /** Aborting sends a cancel message for the request; the promise then rejects with CancelledError. */
  signal?: AbortSignal;
}

export interface Transport {
  request<R = Record<string, unknown>>(
    kind: string,
    args?: Record<string, unknown>,
    buffers?: ArrayBuffer[],
    options?: RequestOptions,
  ): Promise<Reply<R>>;
}

export class RequestError extends Error {
  constructor(message: string, readonly kind: string = "Error") {
    super(message);
    this.name = "RequestError";
  }
}

export class CancelledError extends RequestError {
  constructor(message = "Cancelled") {
    super(message, "CancelledError");
    this.name = "CancelledError";
  }
}
