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

/** A setting fixed at start, or one that follows the fleet (PoolState's sync budget). */
export type Setting = number | (() => number);

export interface ReporterOptions {
  /** How stale the shared view may get while requests flow. */
  readonly syncIntervalMs: Setting;
  /** Least wait before a changed in-flight count is published. */
  readonly reportGapMs: Setting;
  /** Re-report at least this often while requests are in flight, so their counts never expire. */
  readonly heartbeatMs: Setting;
  /**
   * Whether a change in the in-flight counts is itself worth a report (default true). False:
   * changes ride on the syncs due anyway and on heartbeats, which is enough where nobody
   * balances on them and the store's load is budgeted.
   */
  readonly reportsChanges?: () => boolean;
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
  #syncing = 0;
  readonly #runMs: number;
  readonly #stuckMs: number;
  readonly #timers: Timers;
  readonly #interval: () => number;
  readonly #gap: () => number;
  readonly #heartbeat: () => number;
  readonly #reportsChanges: () => boolean;

  constructor(
    private readonly hooks: ReporterHooks,
    private readonly options: ReporterOptions,
  ) {
    this.#runMs = options.runMs ?? REPORTER_RUN_MS;
    this.#stuckMs = options.stuckMs ?? REPORTER_STUCK_MS;
    this.#timers = options.timers ?? realTimers;
    const read = (setting: Setting) => (typeof setting === "number" ? () => setting : setting);
    this.#interval = read(options.syncIntervalMs);
    this.#gap = read(options.reportGapMs);
    this.#heartbeat = read(options.heartbeatMs);
    this.#reportsChanges = options.reportsChanges ?? (() => true);
  }

  /** Syncs now, outside the loop (cold start, admin refresh, shutdown); counts as a report. */
  async syncNow(): Promise<void> {
    this.#lastSyncAt = this.options.clock();
    this.#syncing++;
    try {
      await this.hooks.sync();
    } finally {
      this.#syncing--;
    }
  }

  /** Whether a sync is on its way to the store now. */
  get syncing(): boolean {
    return this.#syncing > 0;
  }

  /** Starts the background reporter when a sync is due; never waits for it. */
  poke(defer: Defer): void {
    const now = this.options.clock();
    // Workers end waitUntil work after 30 s; a reporter cut off there never clears its flag.
    if (this.#running && now - this.#runningSince < this.#stuckMs) return;
    const since = now - this.#lastSyncAt;
    if (since >= this.#interval()) {
      defer(this.#run(0));
    } else if (this.#reportsChanges()) {
      if (this.hooks.dirty()) defer(this.#run(this.#gap() - since));
    } else if (this.hooks.inflight() > 0) {
      // No report for the change itself; but requests in flight are re-reported when the
      // refresh or the heartbeat is due, however long they last and whether or not more come.
      defer(this.#run(Math.min(this.#interval(), this.#heartbeat()) - since, true));
    }
  }

  /** `whileInFlight`: after the wait, sync only if requests are still in flight. */
  async #run(initialWaitMs: number, whileInFlight = false): Promise<void> {
    const { clock } = this.options;
    this.#running = true;
    this.#runningSince = clock();
    try {
      if (initialWaitMs > 0) await this.#timers.sleep(initialWaitMs);
      if (whileInFlight && this.hooks.inflight() === 0) return;
      await this.syncNow();
      // Bounded, so it ends well inside a Worker's waitUntil allowance; the next request's
      // poke starts a fresh one. While the store is down, idle instances stop here too.
      const until = this.#runningSince + this.#runMs;
      const changes = () => this.#reportsChanges() && this.hooks.dirty();
      while ((this.hooks.inflight() > 0 || (changes() && !this.hooks.degraded())) && clock() < until) {
        if (this.#reportsChanges()) {
          await this.#timers.sleep(Math.min(this.#gap(), this.#heartbeat()));
          const since = clock() - this.#lastSyncAt;
          if (this.hooks.dirty() || since >= this.#heartbeat()) await this.syncNow();
        } else {
          // No report for a change alone: while requests are in flight, the view's refresh and
          // the heartbeat, whichever is due first; the last request's end rides on the next sync.
          const every = Math.min(this.#interval(), this.#heartbeat());
          await this.#timers.sleep(Math.max(0, every - (clock() - this.#lastSyncAt)));
          if (this.hooks.inflight() > 0 && clock() - this.#lastSyncAt >= every) await this.syncNow();
        }
      }
    } finally {
      this.#running = false;
    }
    // Cut short by the run limit with requests still open: continue in one of their backgrounds.
    if (this.hooks.inflight() > 0) this.hooks.keeper?.()?.(this.#run(0));
  }
}
