/**
 * The lowest layer: plain data every other layer shares. A backend, the load figures selection
 * reads, and where a request for a backend goes.
 */

/** A backend as the balancer sees it: plain data, no I/O handles. */
export interface Backend {
  /** Stable identity: names the backend in shared state, logs and hashing. */
  readonly name: string;
  /** Origin plus optional base path, no trailing slash, e.g. "http://10.0.0.1:8080". */
  readonly url: string;
  /** Positive integer; relative share for weighted algorithms and hashing. */
  readonly weight: number;
  /** Used only while every primary backend is unavailable (README: Health, failure and retries). */
  readonly backup: boolean;
}

/** Load figures per backend name, merged from the shared snapshot and this instance's deltas. */
export interface LoadView {
  /** In-flight requests on this backend across all instances. */
  inflight(name: string): number;
  /** Latency estimate in ms (EWMA) or undefined when never measured. */
  latency(name: string): LatencyEstimate | undefined;
}

export interface LatencyEstimate {
  /** Exponentially weighted moving average of response time, ms. */
  readonly ewmaMs: number;
  /** Epoch ms of the last sample folded into ewmaMs. */
  readonly updatedAt: number;
}

/**
 * The upstream URL: the backend's URL (origin and base path) plus a canonical path and query.
 * Nothing in a client's request can change which host is contacted or leave the base path
 * (README, Security; src/proxy/request-target.ts makes the target canonical).
 */
export function upstreamUrl(backend: Backend, target: string): string {
  return backend.url + target;
}
