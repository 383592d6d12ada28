import type { Backend, LoadView } from "../shared/backend.ts";
import { checkBackends } from "./check-backends.ts";
import { twoChoices } from "./two-choices.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

export { sampleTwo } from "./two-choices.ts";

/**
 * In-flight per unit of weight. Clamped at 0 because the merged view (shared snapshot plus this
 * instance's delta) can dip below zero briefly when releases are counted before the snapshot
 * catches up with the matching acquires; a negative load would otherwise look idlest of all.
 */
function loadOf(backend: Backend, load: LoadView): number {
  return Math.max(0, load.inflight(backend.name)) / backend.weight;
}

/**
 * Least connections by power of two choices (Mitzenmacher; Envoy's LEAST_REQUEST): sample two
 * backends and take the less loaded. A full scan for the global minimum would send every
 * instance, all reading the same slightly stale snapshot, to the same backend at once; two
 * random choices keep almost all of the benefit and none of the herding.
 *
 * The first two candidates cost two load reads (two-choices.ts).
 */
export function buildLeastConnections(backends: readonly Backend[]): Selector {
  checkBackends(backends);
  const list = [...backends];
  return {
    candidates: ({ load, random }) => twoChoices(list, loadOf, load, random),
  };
}

export const leastConnections = {
  name: "least-connections",
  help: "the less busy (in-flight per weight, all instances) of two sampled backends",
  needs: "load",
  build: buildLeastConnections,
} as const satisfies BalancingAlgorithm;
