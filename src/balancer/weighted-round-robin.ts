import type { Backend } from "../shared/backend.ts";
import { checkBackends } from "./check-backends.ts";
import { distinctWalk } from "./distinct-walk.ts";
import { positionOf } from "./round-robin.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/**
 * The schedule is materialised, so its length (the gcd-reduced weight sum) costs memory and
 * O(length x n) build time. 2^20 entries is 4 MiB and far above any sane configuration
 * (HAProxy caps weights at 256, Envoy at 128); beyond it we refuse rather than stall a build.
 */
export const MAX_SCHEDULE_LENGTH = 1 << 20;

/**
 * nginx's smooth weighted round robin, run once over a whole period: each round every backend
 * gains its weight, the one with the highest running total is picked (first in list on ties, as
 * nginx does) and pays back the sum. Weights 5,1,1 give a,a,b,a,c,a,a: the heavy backend's turns
 * are interleaved instead of arriving as a burst.
 *
 * Weights are divided by their gcd first: 10,10 and 1,1 are the same policy, and the shorter
 * period keeps the schedule small and its proportions exact over fewer requests.
 */
export function smoothSchedule(weights: readonly number[]): Uint32Array {
  const reduced = reducedWeights(weights);
  const total = reduced.reduce((sum, w) => sum + w, 0);
  if (total > MAX_SCHEDULE_LENGTH) {
    throw new RangeError(`weighted round robin period ${total} exceeds ${MAX_SCHEDULE_LENGTH}; use smaller weights`);
  }
  const schedule = new Uint32Array(total);
  const current = new Array<number>(reduced.length).fill(0);
  for (let slot = 0; slot < total; slot++) {
    let best = 0;
    for (let i = 0; i < reduced.length; i++) {
      current[i]! += reduced[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    schedule[slot] = best;
  }
  return schedule;
}

function reducedWeights(weights: readonly number[]): number[] {
  const divisor = weights.reduce(gcd, 0) || 1;
  return weights.map((w) => w / divisor);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The schedule's length: one full turn in sequence positions. */
export function schedulePeriod(weights: readonly number[]): number {
  return reducedWeights(weights).reduce((sum, w) => sum + w, 0);
}

/**
 * Fallbacks walk on through the schedule from the first choice, so an excluded backend's turns
 * are shared out roughly in proportion to weight. The walk is bounded to keep a skewed schedule
 * (1000:1) from costing O(period) per request; whoever it has not met by then follows in list
 * order, so the candidates always cover every backend.
 */
export function buildWeightedRoundRobin(backends: readonly Backend[]): Selector {
  checkBackends(backends, { integerWeights: true });
  const list = [...backends];
  const n = list.length;
  const schedule = smoothSchedule(list.map((b) => b.weight));
  const period = schedule.length;
  const walk = Math.min(period - 1, 4 * n);

  return {
    *candidates({ seq }) {
      if (n === 0) return;
      const start = positionOf(seq, period);
      yield* distinctWalk(list, schedule[start]!, (step) => schedule[(start + step) % period]!, walk);
    },
  };
}

export const weightedRoundRobin = {
  name: "weighted-round-robin",
  help: "in turn by weight, interleaved (nginx's smooth weighted round robin)",
  needs: "sequence",
  build: buildWeightedRoundRobin,
  positionsPerTurn: (backends) => Math.max(1, schedulePeriod(backends.map((b) => b.weight))),
} as const satisfies BalancingAlgorithm;
