import type { Backend, LatencyEstimate, LoadView } from "../shared/backend.ts";
import { elapsed } from "../shared/latency.ts";
import { checkBackends } from "./check-backends.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/**
 * How fast an unrefreshed estimate fades when scoring. A backend that was slow and so stopped
 * receiving traffic produces no new samples to prove it recovered; fading its estimate toward 0
 * makes it look attractive again after a while (its score passes a 20x faster peer's after
 * DECAY_MS x ln 20, about 30 s), and the next real sample then says what it is now.
 */
export const DECAY_MS = 10_000;

/** The estimate as scoring sees it: faded toward 0 with the time since its last sample. */
export function decayedLatency(estimate: LatencyEstimate, now: number): number {
  return estimate.ewmaMs * Math.exp(-elapsed(estimate, now) / DECAY_MS);
}

/**
 * What an unmeasured backend with requests in flight is assumed to cost per request (Finagle's
 * penalty): without it a new backend would score 0 and take every request until its first answer.
 */
export const UNMEASURED_PENALTY_MS = 1_000;

/**
 * Expected wait if sent now: latency x (queue ahead + this request), per unit of weight. An idle
 * backend never measured scores 0 so it gets tried and measured.
 */
export function responseTimeScore(backend: Backend, load: LoadView, now: number): number {
  const estimate = load.latency(backend.name);
  const inflight = Math.max(0, load.inflight(backend.name));
  if (estimate === undefined) return (inflight * UNMEASURED_PENALTY_MS) / backend.weight;
  const score = (decayedLatency(estimate, now) * (inflight + 1)) / backend.weight;
  // A corrupt estimate from the store must rank last, not poison every comparison.
  return Number.isNaN(score) ? Infinity : score;
}

/**
 * Least response time by peak-EWMA, taking the lowest score over all backends. (linkerd applies
 * the same score to two random choices instead; a full scan finds the fast backend every time,
 * and the in-flight factor pushes traffic off it as it fills.) The first candidate costs one
 * O(n) scan, lowest index winning ties; the rest are sorted only if asked for.
 */
export function buildLeastResponseTime(backends: readonly Backend[]): Selector {
  checkBackends(backends);
  const list = [...backends];
  const n = list.length;

  return {
    *candidates({ load, now }) {
      if (n === 0) return;
      const scores = list.map((backend) => responseTimeScore(backend, load, now));
      let best = 0;
      for (let i = 1; i < n; i++) if (scores[i]! < scores[best]!) best = i;
      yield list[best]!;

      const rest = [...scores.keys()].filter((i) => i !== best);
      // Stable sort: equal scores keep list order.
      rest.sort((x, y) => scores[x]! - scores[y]!);
      for (const index of rest) yield list[index]!;
    },
  };
}

export const leastResponseTime = {
  name: "least-response-time",
  help: "lowest expected wait: peak-EWMA latency x (in-flight + 1) per weight",
  needs: "load",
  build: buildLeastResponseTime,
} as const satisfies BalancingAlgorithm;
