import type { Backend } from "../shared/backend.ts";
import type { Defer } from "../shared/defer.ts";
import type { Log } from "../shared/log.ts";
import type { PoolState } from "../state/pool-state.ts";
import { ejectionDuration, FailureStreaks, type OutlierPolicy } from "./outlier.ts";

/** The part of a pool's state passive health reads and writes. */
export type SharedRecords = Pick<PoolState, "snapshot" | "publish">;

/**
 * Passive health (Envoy outlier detection): consecutive failures seen by this instance eject
 * the backend for base x times-ejected; the ejection is shared so every instance skips it.
 * Whether too many are ejected at once is decided when reading (ejectionCap in
 * src/balancer/availability.ts), so racing instances cannot push past the cap.
 */
export class PassiveHealth {
  readonly #streaks: FailureStreaks;
  /** backend -> ejections this instance made (edge_lb_backend_ejections_total). */
  readonly ejections = new Map<string, number>();

  constructor(
    private readonly policy: OutlierPolicy,
    private readonly state: SharedRecords,
    private readonly log: Log,
    private readonly clock: () => number = Date.now,
  ) {
    this.#streaks = new FailureStreaks(policy);
  }

  /**
   * Whether a response with this status counts as the backend failing: 502, 503 and 504 always
   * (the backend, or what stands behind it, could not serve); other 5xx only when configured.
   */
  failsOn(status: number): boolean {
    if (status === 502 || status === 503 || status === 504) return true;
    return this.policy.failureOn5xx && status >= 500;
  }

  record(backend: Backend, failure: string | undefined, defer: Defer): void {
    const record = this.state.snapshot.backends[backend.name];
    const now = this.clock();
    if (failure === undefined) {
      this.#streaks.record(backend.name, false);
      // Serving again after an ejection ended: the next ejection starts from the base time.
      if ((record?.ejections ?? 0) > 0 && (record?.ejectedUntil ?? 0) <= now) {
        this.state.publish(backend.name, { ejections: 0 }, defer);
      }
      return;
    }
    if (!this.#streaks.record(backend.name, true)) return;
    const times = (record?.ejections ?? 0) + 1;
    const duration = ejectionDuration(this.policy, times);
    const until = now + duration;
    const reason = `ejected for ${duration} ms after ${this.policy.consecutiveFailures} consecutive failures: ${failure}`;
    this.state.publish(backend.name, { ejectedUntil: until, ejections: times, since: until, reason }, defer);
    this.ejections.set(backend.name, (this.ejections.get(backend.name) ?? 0) + 1);
    this.log(`${backend.url} [down] (${reason})`, {
      event: "ejected",
      backend: backend.name,
      url: backend.url,
      reason,
    });
  }
}
