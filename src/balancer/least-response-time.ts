import type { Backend, LatencyEstimate, LoadView, Selector } from "./types.ts";
import { checkBackends } from "./validate.ts";

/**
 * How fast an unrefreshed estimate fades when scoring. A backend that was slow and so stopped
 * receiving traffic produces no new samples to prove it recovered; fading its estimate toward 0
 * makes it look attractive again after a while (its score passes a 20x faster peer's after
 * DECAY_MS x ln 20, about 30 s), and the next real sample then says what it is now.
 */
export const DECAY_MS = 10_000;

/** Time constant of the EWMA itself: linkerd's default of 10 s. */
export const TAU_MS = 10_000;

/**
 * Peak-EWMA update (Finagle, linkerd): a sample above the estimate replaces it at once, so a
 * backend turning slow is avoided immediately; samples below it are averaged in with a weight
 * that grows with the time since the last one, so recovery is believed gradually and a burst of
 * fast samples within a few ms counts little more than one.
 */
export function foldLatency(
  prev: LatencyEstimate | undefined,
  sampleMs: number,
  now: number,
): LatencyEstimate {
  if (!Number.isFinite(sampleMs)) {
    throw new RangeError(`latency sample must be finite, got ${sampleMs}`);
  }
  // Clock adjustments can make an end-minus-start measurement negative; it was simply fast.
  const sample = Math.max(0, sampleMs);
  if (prev === undefined || sample > prev.ewmaMs) return { ewmaMs: sample, updatedAt: now };
  const w = Math.exp(-elapsed(prev, now) / TAU_MS);
  return { ewmaMs: prev.ewmaMs * w + sample * (1 - w), updatedAt: now };
}

/** The estimate as scoring sees it: faded toward 0 with the time since its last sample. */
export function decayedLatency(estimate: LatencyEstimate, now: number): number {
  return estimate.ewmaMs * Math.exp(-elapsed(estimate, now) / DECAY_MS);
}

// Instances' clocks disagree a little; an estimate stamped "in the future" is simply fresh,
// not one to amplify with a positive exponent.
function elapsed(estimate: LatencyEstimate, now: number): number {
  return Math.max(0, now - estimate.updatedAt);
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
