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

/**
 * What a selection needs per request beyond the backends, `random` and `now`, so the proxy
 * fetches only that: a position from the shared sequence, the client's hash key, or in-flight
 * and latency figures (which the pool state then reports often and counts until a body is sent).
 */
export type SelectionNeed = "sequence" | "key" | "load" | "nothing";

/**
 * One balancing algorithm, everything the rest of the balancer asks of it in one record (the
 * way Pingora pairs a selection's build and iterate). Registered in registry.ts.
 */
export interface BalancingAlgorithm<Name extends string = string> {
  /** As config spells it (ALGORITHM, "algorithm"). */
  readonly name: Name;
  /** One line for --help. */
  readonly help: string;
  readonly needs: SelectionNeed;
  build(backends: readonly Backend[]): Selector;
  /**
   * Sequence positions in one full turn over `backends` (default 1). The pool state reserves
   * whole turns, so every fully used block of positions is exactly balanced.
   */
  positionsPerTurn?(backends: readonly Backend[]): number;
  /**
   * Build once over the whole tier and skip unusable backends while walking, instead of
   * rebuilding over the usable ones: a backend going down then moves only its own keys.
   */
  readonly buildsOverWholeTier?: boolean;
}
