import type { Backend } from "../shared/backend.ts";
import { leastConnections } from "./least-connections.ts";
import { leastResponseTime } from "./least-response-time.ts";
import { ipHash } from "./maglev.ts";
import { roundRobin } from "./round-robin.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";
import { weightedRoundRobin } from "./weighted-round-robin.ts";

/**
 * Every algorithm the balancer offers, in the order help lists them. Config, help texts, the
 * proxy and the rotation all read these records, so a new algorithm is its own file plus one
 * line here.
 */
export const ALGORITHMS = [
  roundRobin,
  weightedRoundRobin,
  ipHash,
  leastConnections,
  leastResponseTime,
] as const satisfies readonly BalancingAlgorithm[];

/** An algorithm's name as config spells it. */
export type Algorithm = (typeof ALGORITHMS)[number]["name"];

export const ALGORITHM_NAMES: readonly Algorithm[] = ALGORITHMS.map((algorithm) => algorithm.name);

const BY_NAME: ReadonlyMap<string, BalancingAlgorithm<Algorithm>> = new Map(ALGORITHMS.map((a) => [a.name, a]));

/** The record for `name`; throws for a name that escaped config validation. */
export function algorithmNamed(name: Algorithm): BalancingAlgorithm<Algorithm> {
  const algorithm = BY_NAME.get(name);
  if (!algorithm) throw new RangeError(`unknown algorithm ${JSON.stringify(name)}`);
  return algorithm;
}

/** Builds the selector for one backend set; rebuild when the set or a weight changes. */
export function buildSelector(name: Algorithm, backends: readonly Backend[]): Selector {
  return algorithmNamed(name).build(backends);
}
