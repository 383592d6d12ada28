/**
 * A fetch for upstream calls (proxying and probes), with an optional faster way in for the proxy:
 * `send`, a runtime's own client (Node: src/runtime/node-upstream.ts). It takes the headers as a
 * flat list and is aborted through the call it returns rather than a signal, and its responses
 * are as the upstream sent them: bodies never decoded (Content-Encoding and Content-Length stay),
 * no hop-by-hop headers, and headers that may be changed in place.
 */
export type UpstreamFetch = typeof fetch & {
  readonly send?: (url: string, request: UpstreamRequest) => UpstreamCall;
};

export interface UpstreamRequest {
  readonly method: string;
  /** name, value, name, value, ...: lower-case names, the body's framing left to the client. */
  readonly headers: string[];
  readonly body: ArrayBuffer | ReadableStream<Uint8Array> | null;
}

export interface UpstreamCall {
  /** Resolves with the response's head (its body streams); rejects like fetch. */
  readonly response: Promise<Response>;
  /**
   * Once `response` has resolved: its body's declared length (shared/declared-length.ts), read
   * from the head as it came, which spares the access log two Headers.get (undici checks a name
   * character by character on each).
   */
  readonly declaredLength: number | undefined;
  /** Ends the exchange, before or after the head: `response` rejects with `reason` if still pending. */
  abort(reason: Error): void;
}
