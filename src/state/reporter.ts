import type { Defer } from "../shared/defer.ts";
import { realTimers, type Timers } from "./timers.ts";

/**
 * On Workers one background reporter runs at most this long: waitUntil work outlives its request
 * by 30 s. Server runtimes have no such limit and keep one running while requests are in flight.
 */
export const REPORTER_RUN_MS = 20_000;
/** A reporter flagged as running for this long was cut off by the runtime: start another. */
export const REPORTER_STUCK_MS = 35_000;

/** What the reporter reads and drives; PoolState wires it to the load ledger and the store. */
export interface ReporterHooks {
  /** One report-and-read round trip; settles (never rejects) whether or not the store answered. */
  sync(): Promise<void>;
  /** Requests in flight from this instance. */
  inflight(): number;
  /** Whether in-flight counts changed since the last report. */
  dirty(): boolean;
  /** Whether the store is known to be down. */
  degraded(): boolean;
  /**
   * Where a bounded run that ends with requests still in flight continues: the background of one
   * of those requests (on Workers, a request's context lives while its response streams or its
   * WebSocket is open). Undefined: none is known, and the next request's poke starts a run.
   */
  keeper?(): Defer | undefined;
}

export interface ReporterOptions {
  /** How stale the shared view may get while requests flow. */
  readonly syncIntervalMs: number;
  /** Least wait before a changed in-flight count is published. */
  readonly reportGapMs: number;
  /** Re-report at least this often while requests are in flight, so their counts never expire. */
  readonly heartbeatMs: number;
  /** Longest single run (REPORTER_RUN_MS by default); Infinity where background work may last. */
  readonly runMs?: number;
  readonly stuckMs?: number;
  readonly clock: () => number;
  readonly timers?: Timers;
}

/**
 * Keeps the store's view of this instance current without a request ever waiting for it: a
 * request only starts the reporter (in the background) when a sync is due. The reporter keeps
 * running while this instance has requests in flight: it reports changes after at most the
 * report gap and re-reports every heartbeat, so long requests (streams, WebSockets) never expire
 * at the store, however long they last and whatever the in-flight TTL.
 */
export class Reporter {
  #running = false;
  #runningSince = 0;
  #lastSyncAt = -Infinity;
  readonly #runMs: number;
  readonly #stuckMs: number;
  readonly #timers: Timers;

  constructor(
    private readonly hooks: ReporterHooks,
    private readonly options: ReporterOptions,
  ) {
    this.#runMs = options.runMs ?? REPORTER_RUN_MS;
    this.#stuckMs = options.stuckMs ?? REPORTER_STUCK_MS;
    this.#timers = options.timers ?? realTimers;
  }

  /** Syncs now, outside the loop (cold start, admin refresh, shutdown); counts as a report. */
  syncNow(): Promise<void> {
    this.#lastSyncAt = this.options.clock();
    return this.hooks.sync();
  }

  /** Starts the background reporter when a sync is due; never waits for it. */
  poke(defer: Defer): void {
    const now = this.options.clock();
    // Workers end waitUntil work after 30 s; a reporter cut off there never clears its flag.
    if (this.#running && now - this.#runningSince < this.#stuckMs) return;
    const since = now - this.#lastSyncAt;
    if (since >= this.options.syncIntervalMs) {
      defer(this.#run(0));
    } else if (this.hooks.dirty()) {
      defer(this.#run(this.options.reportGapMs - since));
    }
  }

  async #run(initialWaitMs: number): Promise<void> {
    const { clock, heartbeatMs, reportGapMs } = this.options;
    this.#running = true;
    this.#runningSince = clock();
    try {
      if (initialWaitMs > 0) await this.#timers.sleep(initialWaitMs);
      await this.syncNow();
      // Bounded, so it ends well inside a Worker's waitUntil allowance; the next request's
      // poke starts a fresh one. While the store is down, idle instances stop here too.
      const until = this.#runningSince + this.#runMs;
      while ((this.hooks.inflight() > 0 || (this.hooks.dirty() && !this.hooks.degraded())) && clock() < until) {
        await this.#timers.sleep(Math.min(reportGapMs, heartbeatMs));
        const since = clock() - this.#lastSyncAt;
        if (this.hooks.dirty() || since >= heartbeatMs) await this.syncNow();
      }
    } finally {
      this.#running = false;
    }
    // Cut short by the run limit with requests still open: continue in one of their backgrounds.
    if (this.hooks.inflight() > 0) this.hooks.keeper?.()?.(this.#run(0));
  }
}
