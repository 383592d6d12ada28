/**
 * Envoy's consecutive-failure outlier detection, per pool. How many may be ejected at once is
 * not here: that is decided when reading the shared records (ejectionCap in
 * src/balancer/availability.ts).
 */
export interface OutlierPolicy {
  /** Consecutive failures that eject a backend; 0 turns passive ejection off. */
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** Count every 5xx as a failure (Envoy's consecutive_5xx); 502/503/504, connection errors and timeouts always count. */
  readonly failureOn5xx: boolean;
}

/** Ejected for base x times ejected, capped: a backend that keeps failing stays out longer. */
export function ejectionDuration(policy: OutlierPolicy, timesEjected: number): number {
  return Math.min(policy.baseEjectionMs * Math.max(1, timesEjected), policy.maxEjectionMs);
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
    const threshold = this.policy.consecutiveFailures;
    if (threshold > 0 && streak >= threshold) {
      this.#streaks.delete(backend);
      return true;
    }
    this.#streaks.set(backend, streak);
    return false;
  }
}
