import type { Backend } from "../shared/backend.ts";
import type { Defer } from "../shared/defer.ts";
import type { Log } from "../shared/log.ts";
import type { ProbeSpec } from "../shared/probe-spec.ts";
import type { PoolState } from "../state/pool-state.ts";
import { judgeRound } from "./judge-round.ts";
import { probe } from "./probe.ts";

const LOCK = "health";

/**
 * Active checks for one pool. Whoever triggers them — a timer, a Cron Trigger, or a request
 * noticing a round is due — first takes the pool's lock in the shared store for one interval,
 * so across all instances one round runs per interval and each backend sees one probe.
 */
export class HealthChecker {
  #nextAttemptAt = 0;
  #handedOver = false;

  constructor(
    private readonly spec: ProbeSpec,
    private readonly backends: readonly Backend[],
    private readonly state: PoolState,
    private readonly log: Log,
    private readonly fetcher: typeof fetch = fetch,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Cheap per-request hook: at most a few lock attempts per interval for the whole group. A lost
   * race retries after a quarter interval, so the group's rounds stay about one interval apart;
   * in a large fleet (the store counts its live instances) each instance retries that much less
   * often, so the group still makes about four attempts per interval, not four per instance.
   */
  maybeRun(defer: Defer): void {
    const now = this.clock();
    const spacing = (this.spec.intervalMs / 4) * Math.max(1, (this.state.liveInstances ?? 1) / 4);
    if (this.#nextAttemptAt === 0 && spacing > this.spec.intervalMs / 4) {
      // A fleet's instances start together: their first attempts are spread over one spacing.
      this.#nextAttemptAt = now + Math.random() * spacing;
    }
    if (now < this.#nextAttemptAt) return;
    this.#nextAttemptAt = now + spacing;
    defer(this.runIfDue(defer));
  }

  /** Runs a round if no instance has run one within the interval. True when this one ran it. */
  async runIfDue(defer: Defer): Promise<boolean> {
    // Once per instance: a store that can probe between requests (a Durable Object) is told to.
    if (!this.#handedOver) {
      this.#handedOver = true;
      this.state.watchHealth({ backends: this.backends, check: this.spec }, defer);
    }
    if (!(await this.state.tryLock(LOCK, this.spec.intervalMs))) return false;
    this.#nextAttemptAt = this.clock() + this.spec.intervalMs;
    await this.runRound(defer);
    return true;
  }

  /** Probes every backend once and applies rise/fall to the shared records. */
  async runRound(defer: Defer): Promise<void> {
    const [view, results] = await Promise.all([
      this.state.refresh(),
      Promise.all(this.backends.map((backend) => probe(backend, this.spec, this.fetcher))),
    ]);
    for (const change of judgeRound(this.backends, results, (name) => view.backends[name], this.spec, this.clock())) {
      this.state.publish(change.backend.name, change.patch, defer);
      if (change.line) this.log(change.line, change.event);
    }
  }
}
