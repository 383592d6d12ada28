import type { Backend, LatencyEstimate, LoadView } from "../shared/backend.ts";
import { elapsed } from "../shared/latency.ts";
import { checkBackends } from "./check-backends.ts";
import { twoChoices } from "./two-choices.ts";
import type { BalancingAlgorithm, SelectionInput, Selector } from "./types.ts";

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
 * Least response time by peak-EWMA over two random choices, as linkerd and Finagle do: sample two
 * backends and take the lower expected wait. The pick reads two scores whatever the number of
 * backends (a full scan grew linearly: 56x slower at 300 backends than at 3). The slowest backend
 * never wins its pair, so it is never the first choice while another can serve; the fastest is
 * first whenever it is sampled (2/n of picks, plus every pick where its partner scores worse),
 * and, as with least connections, instances reading the same stale view do not all herd onto
 * the one backend a full scan would name.
 */
export function buildLeastResponseTime(backends: readonly Backend[]): Selector {
  checkBackends(backends);
  const list = [...backends];
  return {
    candidates: (input) => twoChoices(list, scoreNow, input, input.random),
  };
}

const scoreNow = (backend: Backend, input: SelectionInput) => responseTimeScore(backend, input.load, input.now);

export const leastResponseTime = {
  name: "least-response-time",
  help: "the lower expected wait (peak-EWMA latency x (in-flight + 1) per weight) of two sampled backends",
  needs: "load",
  build: buildLeastResponseTime,
} as const satisfies BalancingAlgorithm;
