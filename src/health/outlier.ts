/** Envoy's consecutive-failure outlier detection, as configured per pool. */
export interface OutlierPolicy {
  /** Consecutive failures that eject a backend; 0 turns passive ejection off. */
  readonly consecutive_failures: number;
  readonly base_ejection_ms: number;
  readonly max_ejection_ms: number;
  /** At most this share of a pool is ejected at once (at least one backend may be). */
  readonly max_ejection_percent: number;
  /** Count every 5xx as a failure (Envoy's consecutive_5xx); 502/503/504, connection errors and timeouts always count. */
  readonly failure_on_5xx: boolean;
}

/** Ejected for base x times ejected, capped: a backend that keeps failing stays out longer. */
export function ejectionDuration(policy: OutlierPolicy, timesEjected: number): number {
  return Math.min(policy.base_ejection_ms * Math.max(1, timesEjected), policy.max_ejection_ms);
}

/** How many of `poolSize` backends may be ejected at once. */
export function ejectionCap(policy: OutlierPolicy, poolSize: number): number {
  if (policy.max_ejection_percent <= 0) return 0;
  return Math.max(1, Math.floor((poolSize * policy.max_ejection_percent) / 100));
}

/**
 * Per-instance streaks of consecutive failures. Ejection itself is shared (the store), but the
 * streak is local, as in Envoy: one instance's bad luck is not summed with another's.
 */
export class FailureStreaks {
  readonly #streaks = new Map<string, number>();

  constructor(private readonly policy: OutlierPolicy) {}

  /** Records one outcome; true when this failure completes a streak that should eject. */
  record(backend: string, failed: boolean): boolean {
    if (!failed) {
      if (this.#streaks.has(backend)) this.#streaks.delete(backend);
      return false;
    }
    const streak = (this.#streaks.get(backend) ?? 0) + 1;
    const threshold = this.policy.consecutive_failures;
    if (threshold > 0 && streak >= threshold) {
      this.#streaks.delete(backend);
      return true;
    }
    this.#streaks.set(backend, streak);
    return false;
  }
}
