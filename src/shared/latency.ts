import type { LatencyEstimate } from "./backend.ts";

/** Latency observed since an instance's previous report, per backend. */
export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
}

/**
 * Latency estimates: how this instance folds one response time into its own (peak-EWMA), and how
 * a store folds instances' reported means into the shared one. Both the state layer (recording)
 * and the balancer (scoring) use them.
 */

/** Time constant of the EWMA itself: linkerd's default of 10 s. */
export const TAU_MS = 10_000;

/**
 * Peak-EWMA update (Finagle, linkerd): a sample above the estimate replaces it at once, so a
 * backend turning slow is avoided immediately; samples below it are averaged in with a weight
 * that grows with the time since the last one, so recovery is believed gradually and a burst of
 * fast samples within a few ms counts little more than one.
 */
export function foldLatency(prev: LatencyEstimate | undefined, sampleMs: number, now: number): LatencyEstimate {
  if (!Number.isFinite(sampleMs)) {
    throw new RangeError(`latency sample must be finite, got ${sampleMs}`);
  }
  // Clock adjustments can make an end-minus-start measurement negative; it was simply fast.
  const sample = Math.max(0, sampleMs);
  if (prev === undefined || sample > prev.ewmaMs) return { ewmaMs: sample, updatedAt: now };
  const w = Math.exp(-elapsed(prev, now) / TAU_MS);
  return { ewmaMs: prev.ewmaMs * w + sample * (1 - w), updatedAt: now };
}

/** EWMA weight of one new sample when folding reported means into the shared estimate. */
export const SHARED_LATENCY_ALPHA = 0.2;

/** The shared estimate after folding `summary.count` samples of mean `summary.meanMs`. */
export function foldSharedLatency(
  previous: LatencyEstimate | undefined,
  summary: LatencySummary,
  now: number,
): LatencyEstimate {
  if (!previous) return { ewmaMs: summary.meanMs, updatedAt: now };
  const keep = (1 - SHARED_LATENCY_ALPHA) ** summary.count;
  return { ewmaMs: previous.ewmaMs * keep + summary.meanMs * (1 - keep), updatedAt: now };
}

/** Time since the estimate's last sample. Instances' clocks disagree a little: an estimate
 * stamped "in the future" is simply fresh, not one to amplify with a positive exponent. */
export function elapsed(estimate: LatencyEstimate, now: number): number {
  return Math.max(0, now - estimate.updatedAt);
}
