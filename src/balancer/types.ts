/** A backend as the balancer sees it: plain data, no I/O handles. */
export interface Backend {
  /** Stable identity: names the backend in shared state, logs and hashing. */
  readonly name: string;
  /** Origin plus optional base path, no trailing slash, e.g. "http://10.0.0.1:8080". */
  readonly url: string;
  /** Positive integer; relative share for weighted algorithms and hashing. */
  readonly weight: number;
  /** Used only while every primary backend is unavailable (issue 4). */
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

/** Everything one selection may depend on. Algorithms read only what they need. */
export interface SelectionInput {
  /** Position from the shared sequence (round robin, weighted round robin). */
  readonly seq: number;
  /** Hash key: client IP, header or cookie value (ip-hash). */
  readonly key: string;
  readonly load: LoadView;
  /** Uniform [0, 1); injected so tests are deterministic. */
  readonly random: () => number;
  /** Epoch ms; injected so decay is testable. */
  readonly now: number;
}

/**
 * Built once per backend set (Pingora's BackendSelection::build), then asked per request.
 * candidates() yields the first choice, then deterministic fallbacks, each backend at most once,
 * so health filtering and retries just walk it.
 */
export interface Selector {
  candidates(input: SelectionInput): Iterable<Backend>;
}

export type Algorithm =
  | "round-robin"
  | "weighted-round-robin"
  | "ip-hash"
  | "least-connections"
  | "least-response-time";

export const ALGORITHMS: readonly Algorithm[] = [
  "round-robin",
  "weighted-round-robin",
  "ip-hash",
  "least-connections",
  "least-response-time",
];
