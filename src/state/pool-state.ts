import type { LoadView } from "../shared/backend.ts";
import type { Defer } from "../shared/defer.ts";
import type { Log } from "../shared/log.ts";
import { LoadLedger } from "./load-ledger.ts";
import { REPORTER_RUN_MS, Reporter } from "./reporter.ts";
import { SequenceBlocks } from "./sequence.ts";
import { StoreCaller, type StoreStats } from "./store-calls.ts";
import type { Timers } from "./timers.ts";
import type { BackendPatch, HealthWatch, InstanceReport, PoolSnapshot, StateStore } from "./types.ts";

export type { StoreStats } from "./store-calls.ts";

export interface PoolStateOptions {
  readonly pool: string;
  /** Unique per isolate/process: owns the in-flight counts it reports. */
  readonly instance: string;
  /** Upper bound on sequence positions reserved per store call; 1 = exact global order. */
  readonly maxBatch: number;
  /** How stale the shared view may get while requests flow (in a fleet within its sync budget). */
  readonly syncIntervalMs: number;
  /**
   * Store calls per second the whole fleet's background syncs may spend on this pool (SYNC_BUDGET);
   * 0 or absent: no budget, every instance syncs every syncIntervalMs while it has requests.
   */
  readonly syncBudget?: number;
  /** Least gap between two reports when in-flight counts changed (load-aware algorithms). */
  readonly reportGapMs: number;
  /** Whether the algorithm reads in-flight counts, so changes are worth reporting quickly. */
  readonly loadAware: boolean;
  readonly inflightTtlMs: number;
  readonly storeTimeoutMs: number;
  readonly clock?: () => number;
  readonly log?: Log;
  /** Store deadlines and the reporter's waits; real timers unless a test drives them. */
  readonly timers?: Timers;
  /**
   * Workers: background work ends 30 s after its request, so the reporter runs in bounded turns
   * and continues in the background of a request still in flight. Elsewhere it runs as long as
   * requests are in flight.
   */
  readonly boundedBackground?: boolean;
}

const EMPTY_SNAPSHOT: PoolSnapshot = { takenAt: 0, backends: {} };

/**
 * The local view in front of a store: the hot path reads and writes only this object; the store
 * is awaited only to reserve the next block of sequence positions (or, once, to warm up).
 * Composes the store calls (deadline, degradation), the load ledger, the sequence blocks and the
 * background reporter.
 */
export class PoolState {
  readonly load: LoadView;

  #snapshot: PoolSnapshot = EMPTY_SNAPSHOT;
  #warm = false;
  /** Live instances in the pool, as the last sync counted them (this one at least). */
  #live = 1;
  #lastSyncAt: number | undefined;
  /** When the view was last read from the store (clock ms). */
  #viewAt = Number.NEGATIVE_INFINITY;
  readonly #calls: StoreCaller;
  readonly #ledger: LoadLedger;
  readonly #sequence: SequenceBlocks;
  readonly #reporter: Reporter;
  /** Workers only: the backgrounds of requests in flight, oldest first (the reporter's keepers). */
  readonly #keepers: Set<{ readonly defer: Defer }> | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly options: PoolStateOptions,
  ) {
    const clock = options.clock ?? Date.now;
    this.#calls = new StoreCaller({
      kind: store.kind,
      timeoutMs: options.storeTimeoutMs,
      log: options.log ?? ((message) => console.warn(message)),
      timers: options.timers,
    });
    this.#keepers = options.boundedBackground ? new Set() : undefined;
    this.#ledger = new LoadLedger(() => this.#snapshot, {
      instance: options.instance,
      inflightTtlMs: options.inflightTtlMs,
      clock,
    });
    this.load = this.#ledger.view;
    this.#sequence = new SequenceBlocks(
      (size) => this.#calls.call(() => this.store.reserve(this.options.pool, size)),
      options.maxBatch,
      clock,
      // The background sync notices when the store is back; requests do not wait to find out.
      () => this.#calls.degraded,
      () => this.#overBudget,
    );
    this.#reporter = new Reporter(
      {
        sync: () => this.#syncOnce(),
        inflight: () => this.#ledger.inflightTotal,
        dirty: () => this.#ledger.dirty,
        degraded: () => this.#calls.degraded,
        keeper: () => {
          // The oldest request still in flight is the likeliest to outlast the next run.
          for (const keeper of this.#keepers ?? []) return keeper.defer;
          return undefined;
        },
      },
      {
        runMs: options.boundedBackground ? REPORTER_RUN_MS : Number.POSITIVE_INFINITY,
        syncIntervalMs: () => this.syncIntervalMs,
        reportGapMs: () =>
          options.loadAware ? Math.max(options.reportGapMs, this.#budgetShareMs) : this.syncIntervalMs,
        heartbeatMs: () => this.#heartbeatMs,
        // With a budget, only balancing on in-flight counts is worth a report per change.
        reportsChanges: () => options.loadAware || !this.#budgeted,
        clock,
        timers: options.timers,
      },
    );
  }

  get stats(): StoreStats {
    return this.#calls.stats;
  }

  /**
   * How stale the shared view may get while requests flow: SYNC_INTERVAL_MS, or, with a budget,
   * this instance's share of it once the fleet is large (live instances / budget, in ms), so the
   * fleet's syncs stay within SYNC_BUDGET calls per second whatever its size.
   */
  get syncIntervalMs(): number {
    return Math.max(this.options.syncIntervalMs, this.#budgetShareMs);
  }

  /** Live instances as the store counts them (1 when unknown or without a budget). */
  get liveInstances(): number {
    return this.#budgeted ? this.#live : 1;
  }

  get #budgeted(): boolean {
    return (this.options.syncBudget ?? 0) > 0;
  }

  /** One instance's share of the budget: the least time between its syncs (0 without a budget). */
  get #budgetShareMs(): number {
    return this.#budgeted ? (1_000 * this.#live) / this.options.syncBudget! : 0;
  }

  /**
   * Past half its budget at the base interval, the fleet stops spending store calls on sequence
   * positions too (SequenceBlocks rotates locally): syncs alone then stay within the budget.
   */
  get #overBudget(): boolean {
    return this.#budgetShareMs > this.options.syncIntervalMs / 2;
  }

  /** In-flight counts are re-reported this often while requests last, and count three times as long. */
  get #heartbeatMs(): number {
    return Math.max(this.options.inflightTtlMs / 3, this.#budgeted ? this.syncIntervalMs : 0);
  }

  get storeKind(): string {
    return this.store.kind;
  }

  get snapshot(): PoolSnapshot {
    return this.#snapshot;
  }

  /**
   * Writes a backend's shared record: applied to this instance's view at once, published to the
   * store in the background, seen by other instances at their next sync.
   */
  publish(backend: string, patch: BackendPatch, defer: Defer): void {
    this.#applyLocally(backend, patch);
    defer(this.#calls.call(() => this.store.setBackend(this.options.pool, backend, patch)).catch(() => undefined));
  }

  /** The same, awaiting the store: an admin change is confirmed only once it is shared. */
  async write(backend: string, patch: BackendPatch): Promise<void> {
    await this.#calls.call(() => this.store.setBackend(this.options.pool, backend, patch));
    this.#applyLocally(backend, patch);
  }

  #applyLocally(backend: string, patch: BackendPatch): void {
    const previous = this.#snapshot.backends[backend];
    this.#snapshot = {
      takenAt: this.#snapshot.takenAt,
      backends: { ...this.#snapshot.backends, [backend]: { ...previous, ...patch, inflight: previous?.inflight ?? 0 } },
    };
  }

  /** Hands the pool's active checks to the store when it can run them itself; false otherwise. */
  watchHealth(watch: HealthWatch, defer: Defer): boolean {
    if (!this.store.watchHealth) return false;
    defer(this.#calls.call(() => this.store.watchHealth!(this.options.pool, watch)).catch(() => undefined));
    return true;
  }

  /** One instance per interval wins this; a store outage means no one does (checks pause). */
  async tryLock(name: string, ttlMs: number): Promise<boolean> {
    try {
      return await this.#calls.call(() => this.store.tryLock(this.options.pool, name, ttlMs));
    } catch {
      return false;
    }
  }

  /**
   * A header session's backend (StateStore.claimSession). A store that does not answer leaves
   * the choice to this instance: `backend` is used, and the session may land elsewhere on
   * another instance until the store is back.
   */
  async claimSession(key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    this.#calls.stats.sessionClaims++;
    try {
      return await this.#calls.call(() => this.store.claimSession(this.options.pool, key, backend, ttlMs, replacing));
    } catch {
      return backend;
    }
  }

  /**
   * The shared view, awaiting the store only before the first successful sync, and, past the
   * sync budget, when the view is older than the sync interval and no sync is on its way: the
   * request then makes the sync that is due anyway and waits for it (one round trip, where below
   * the budget it would wait for its sequence block instead). So no request acts on a view older
   * than the interval plus one store round trip; a busy instance refreshes in the background
   * before that, and a store known to be down is not waited for.
   */
  ready(defer: Defer): PoolSnapshot | Promise<PoolSnapshot> {
    if (this.#warm) {
      const clock = this.options.clock ?? Date.now;
      const stale = this.#overBudget && clock() - this.#viewAt >= this.syncIntervalMs && !this.#reporter.syncing;
      if (stale && !this.#calls.degraded) return this.#reporter.syncNow().then(() => this.#snapshot);
      this.#reporter.poke(defer);
      return this.#snapshot;
    }
    // Each cold request syncs on its own: on Workers no request may continue another's I/O.
    return this.#reporter.syncNow().then(() => this.#snapshot);
  }

  /** Next sequence position; synchronous while a reserved block lasts. */
  nextSeq(granule: number): number | Promise<number> {
    return this.#sequence.next(granule);
  }

  /** Counts a request to `backend` as in flight; the returned function ends it. */
  begin(backend: string, defer: Defer): (outcome: { latencyMs?: number }) => void {
    const end = this.#ledger.begin(backend);
    const keeper = this.#keepers ? { defer } : undefined;
    if (keeper) this.#keepers!.add(keeper);
    this.#reporter.poke(defer);
    return (outcome) => {
      if (!end(outcome)) return;
      if (keeper) this.#keepers!.delete(keeper);
      this.#reporter.poke(defer);
    };
  }

  /** Final report on shutdown: publishes this instance's counters one last time. */
  async flush(): Promise<void> {
    await this.#reporter.syncNow();
  }

  /** A fresh view now (admin routes), awaiting the store. */
  async refresh(): Promise<PoolSnapshot> {
    await this.#reporter.syncNow();
    return this.#snapshot;
  }

  /** Publishes counters and refreshes the view in one round trip; failures keep the old view. */
  async #syncOnce(): Promise<void> {
    const report = this.#withBudget(this.#ledger.takeReport());
    try {
      this.#snapshot = await this.#calls.call(() => this.store.sync(this.options.pool, report));
      if (this.#budgeted) this.#live = Math.max(1, this.#snapshot.live ?? 1);
      this.#viewAt = (this.options.clock ?? Date.now)();
      this.#ledger.accepted(report);
    } catch {
      this.#ledger.rejected(report);
    } finally {
      this.#warm = true;
    }
  }

  /**
   * With a budget, a report asks the store to count this instance live until about its next
   * sync (the time since its last one, between one and two intervals, plus half), and its
   * in-flight counts last three heartbeats, however far apart the budget spreads them.
   */
  #withBudget(report: InstanceReport): InstanceReport {
    if (!this.#budgeted) return report;
    const now = (this.options.clock ?? Date.now)();
    const interval = this.syncIntervalMs;
    const gap = this.#lastSyncAt === undefined ? interval : now - this.#lastSyncAt;
    this.#lastSyncAt = now;
    return {
      ...report,
      ttlMs: Math.max(report.ttlMs, 3 * this.#heartbeatMs),
      liveMs: 1.5 * Math.min(2 * interval, Math.max(interval, gap)),
    };
  }
}
