import type { Backend, LoadView } from "../shared/backend.ts";
import { checkBackends } from "./check-backends.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/**
 * Two distinct indices in 0..n-1 (n >= 2), uniform over ordered pairs, from two draws. Exported
 * so tests can replay a draw and check the choice made from it.
 */
export function sampleTwo(n: number, random: () => number): readonly [number, number] {
  const first = draw(n, random);
  // Draw from the n-1 others and step over `first`, so the pair is distinct without retrying.
  let second = draw(n - 1, random);
  if (second >= first) second++;
  return [first, second];
}

// min() guards against a random() that returns 1: an out-of-range index would be a crash.
function draw(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

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
 * The first two candidates cost two load reads. Only a caller that wants a third (a retry after
 * both failed) pays for reading and sorting the rest, least loaded first.
 */
export function buildLeastConnections(backends: readonly Backend[]): Selector {
  checkBackends(backends);
  const list = [...backends];
  const n = list.length;

  return {
    *candidates({ load, random }) {
      if (n === 0) return;
      if (n === 1) {
        yield list[0]!;
        return;
      }
      const [a, b] = sampleTwo(n, random);
      // On a tie the first draw wins, and the first draw is itself uniform: a random tie-break.
      const aFirst = loadOf(list[a]!, load) <= loadOf(list[b]!, load);
      yield list[aFirst ? a : b]!;
      yield list[aFirst ? b : a]!;
      if (n === 2) return;

      const rest: { index: number; load: number }[] = [];
      for (let index = 0; index < n; index++) {
        if (index !== a && index !== b) rest.push({ index, load: loadOf(list[index]!, load) });
      }
      // Array.prototype.sort is stable, so equal loads keep list order.
      rest.sort((x, y) => x.load - y.load);
      for (const { index } of rest) yield list[index]!;
    },
  };
}

export const leastConnections = {
  name: "least-connections",
  help: "the less busy (in-flight per weight, all instances) of two sampled backends",
  needs: "load",
  build: buildLeastConnections,
} as const satisfies BalancingAlgorithm;
