import type { Backend } from "../balancer/types.ts";
import type { HealthCheckConfig } from "../config/schema.ts";
import type { Defer, PoolState } from "../state/cache.ts";
import type { BackendPatch } from "../state/types.ts";
import { applyCheck } from "./hysteresis.ts";
import { probe } from "./probe.ts";

const LOCK = "health";

/**
 * Active checks for one pool. Whoever triggers them — a timer, a Cron Trigger, or a request
 * noticing a round is due — first takes the pool's lock in the shared store for one interval,
 * so across all instances one round runs per interval and each backend sees one probe.
 */
export class HealthChecker {
  #nextAttemptAt = 0;

  constructor(
    private readonly spec: HealthCheckConfig,
    private readonly backends: readonly Backend[],
    private readonly state: PoolState,
    private readonly log: (line: string) => void,
    private readonly fetcher: typeof fetch = fetch,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Cheap per-request hook: at most a few lock attempts per interval per instance. */
  maybeRun(defer: Defer): void {
    const now = this.clock();
    if (now < this.#nextAttemptAt) return;
    // A lost race retries after a quarter interval, so the group's rounds stay about one interval apart.
    this.#nextAttemptAt = now + this.spec.interval_ms / 4;
    defer(this.runIfDue(defer));
  }

  /** Runs a round if no instance has run one within the interval. True when this one ran it. */
  async runIfDue(defer: Defer): Promise<boolean> {
    if (!(await this.state.tryLock(LOCK, this.spec.interval_ms))) return false;
    this.#nextAttemptAt = this.clock() + this.spec.interval_ms;
    await this.runRound(defer);
    return true;
  }

  /** Probes every backend once and applies rise/fall to the shared records. */
  async runRound(defer: Defer): Promise<void> {
    const [view, results] = await Promise.all([
      this.state.refresh(),
      Promise.all(this.backends.map((backend) => probe(backend, this.spec, this.fetcher))),
    ]);
    this.backends.forEach((backend, index) => {
      const result = results[index]!;
      const before = view.backends[backend.name];
      const previous = { health: before?.health ?? "up", streak: before?.streak ?? 0 } as const;
      const next = applyCheck(previous, result.passed, this.spec);
      if (next.health === previous.health && next.streak === previous.streak) return;
      const patch: BackendPatch = { health: next.health, streak: next.streak };
      if (next.health !== previous.health) {
        if (next.health === "up") {
          this.state.publish(backend.name, { ...patch, since: this.clock(), reason: "" }, defer);
          this.log(`${backend.url} [up]`);
        } else {
          this.state.publish(backend.name, { ...patch, reason: result.reason }, defer);
          this.log(`${backend.url} [down] (${result.reason})`);
        }
        return;
      }
      this.state.publish(backend.name, patch, defer);
    });
  }
}
