import type { Backend, LoadView } from "../shared/backend.ts";

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
