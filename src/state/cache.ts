import type { LatencyEstimate, LoadView } from "../shared/backend.ts";
import type { Defer } from "../shared/defer.ts";
import { foldLatency } from "../shared/latency.ts";
import { SequenceBlocks } from "./sequence.ts";
import type { BackendPatch, HealthWatch, InstanceReport, LatencySummary, PoolSnapshot, StateStore } from "./types.ts";

export interface PoolStateOptions {
  readonly pool: string;
  /** Unique per isolate/process: owns the in-flight counts it reports. */
  readonly instance: string;
  /** Upper bound on sequence positions reserved per store call; 1 = exact global order. */
  readonly maxBatch: number;
  /** How stale the shared view may get while requests flow. */
  readonly syncIntervalMs: number;
  /** Least gap between two reports when in-flight counts changed (load-aware algorithms). */
  readonly reportGapMs: number;
  /** Whether the algorithm reads in-flight counts, so changes are worth reporting quickly. */
  readonly loadAware: boolean;
  readonly inflightTtlMs: number;
  readonly storeTimeoutMs: number;
  readonly clock?: () => number;
  readonly log?: (message: string) => void;
}


export interface StoreStats {
  roundTrips: number;
  errors: number;
  degraded: boolean;
  lastError?: string;
}

const EMPTY_SNAPSHOT: PoolSnapshot = { takenAt: 0, backends: {} };
/** One background reporter runs at most this long (Workers allow waitUntil work 30 s). */
const REPORTER_RUN_MS = 20_000;
const REPORTER_STUCK_MS = 35_000;

/**
 * The local view in front of a store: the hot path reads and writes only this object; the store
 * is awaited only to reserve the next block of sequence positions (or, once, to warm up).
 */
export class PoolState {
  readonly stats: StoreStats = { roundTrips: 0, errors: 0, degraded: false };
  readonly load: LoadView;

  #snapshot: PoolSnapshot = EMPTY_SNAPSHOT;
  #warm = false;
  readonly #sequence: SequenceBlocks;

  readonly #inflight = new Map<string, number>();
  #totalInflight = 0;
  #reported: Readonly<Record<string, number>> = {};
  #inflightDirty = false;
  readonly #samples = new Map<string, { count: number; sumMs: number }>();
  readonly #latency = new Map<string, LatencyEstimate>();

  #reporting = false;
  #reportingSince = 0;
  #lastSyncAt = -Infinity;
  readonly #clock: () => number;
  readonly #log: (message: string) => void;

  constructor(
    private readonly store: StateStore,
    private readonly options: PoolStateOptions,
  ) {
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? ((message) => console.warn(message));
    this.#sequence = new SequenceBlocks(
      (size) => this.#call(() => this.store.reserve(this.options.pool, size)),
      options.maxBatch,
      this.#clock,
      // The background sync notices when the store is back; requests do not wait to find out.
      () => this.stats.degraded,
    );
    const self = this;
    this.load = {
      inflight(name) {
        const shared = self.#snapshot.backends[name]?.inflight ?? 0;
        const mineNow = self.#inflight.get(name) ?? 0;
        const mineInShared = self.#reported[name] ?? 0;
        return Math.max(0, shared - mineInShared) + mineNow;
      },
      latency(name) {
        const local = self.#latency.get(name);
        const shared = self.#snapshot.backends[name]?.latency;
        if (!local) return shared;
        if (!shared) return local;
        return local.updatedAt >= shared.updatedAt ? local : shared;
      },
    };
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
    defer(this.#call(() => this.store.setBackend(this.options.pool, backend, patch)).catch(() => undefined));
  }

  /** The same, awaiting the store: an admin change is confirmed only once it is shared. */
  async write(backend: string, patch: BackendPatch): Promise<void> {
    await this.#call(() => this.store.setBackend(this.options.pool, backend, patch));
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
    defer(this.#call(() => this.store.watchHealth!(this.options.pool, watch)).catch(() => undefined));
    return true;
  }

  /** One instance per interval wins this; a store outage means no one does (checks pause). */
  async tryLock(name: string, ttlMs: number): Promise<boolean> {
    try {
      return await this.#call(() => this.store.tryLock(this.options.pool, name, ttlMs));
    } catch {
      return false;
    }
  }

  /** The shared view, awaiting the store only before the first successful sync. */
  ready(defer: Defer): PoolSnapshot | Promise<PoolSnapshot> {
    if (this.#warm) {
      this.#maybeSync(defer);
      return this.#snapshot;
    }
    // Each cold request syncs on its own: on Workers no request may continue another's I/O.
    return this.#syncOnce().then(() => this.#snapshot);
  }

  /** Next sequence position; synchronous while a reserved block lasts. */
  nextSeq(granule: number): number | Promise<number> {
    return this.#sequence.next(granule);
  }

  /** Counts a request to `backend` as in flight; the returned function ends it. */
  begin(backend: string, defer: Defer): (outcome: { latencyMs?: number }) => void {
    this.#inflight.set(backend, (this.#inflight.get(backend) ?? 0) + 1);
    this.#totalInflight++;
    this.#inflightDirty = true;
    this.#maybeSync(defer);
    let ended = false;
    return ({ latencyMs }) => {
      if (ended) return;
      ended = true;
      this.#inflight.set(backend, (this.#inflight.get(backend) ?? 1) - 1);
      this.#totalInflight--;
      this.#inflightDirty = true;
      if (latencyMs !== undefined) this.#recordLatency(backend, latencyMs);
      this.#maybeSync(defer);
    };
  }

  #recordLatency(backend: string, latencyMs: number): void {
    const now = this.#clock();
    this.#latency.set(backend, foldLatency(this.load.latency(backend), latencyMs, now));
    const sample = this.#samples.get(backend);
    if (sample) {
      sample.count++;
      sample.sumMs += latencyMs;
    } else this.#samples.set(backend, { count: 1, sumMs: latencyMs });
  }

  /**
   * Starts the background reporter when a sync is due; never waits for it. The reporter keeps
   * running while this instance has requests in flight: it reports changes after at most the
   * report gap, and re-reports at a third of the TTL so long requests never expire.
   */
  #maybeSync(defer: Defer): void {
    const now = this.#clock();
    // A reporter whose request the runtime cut off (Workers end waitUntil work after 30 s) never
    // clears its flag: after that long, start another.
    if (this.#reporting && now - this.#reportingSince < REPORTER_STUCK_MS) return;
    const since = now - this.#lastSyncAt;
    if (since >= this.options.syncIntervalMs) {
      defer(this.#report(0));
    } else if (this.#inflightDirty) {
      defer(this.#report(this.#reportGap - since));
    }
  }

  /** Least wait before a changed in-flight count is published. */
  get #reportGap(): number {
    return this.options.loadAware ? this.options.reportGapMs : this.options.syncIntervalMs;
  }

  async #report(initialWaitMs: number): Promise<void> {
    this.#reporting = true;
    this.#reportingSince = this.#clock();
    try {
      if (initialWaitMs > 0) await sleep(initialWaitMs);
      await this.#syncOnce();
      const heartbeatMs = this.options.inflightTtlMs / 3;
      // Bounded, so it ends well inside a Worker's waitUntil allowance; the next request's
      // maybeSync starts a fresh one. While the store is down, idle instances stop here too.
      const until = this.#reportingSince + REPORTER_RUN_MS;
      while ((this.#totalInflight > 0 || (this.#inflightDirty && !this.stats.degraded)) && this.#clock() < until) {
        await sleep(Math.min(this.#reportGap, heartbeatMs));
        const since = this.#clock() - this.#lastSyncAt;
        if (this.#inflightDirty || since >= heartbeatMs) await this.#syncOnce();
      }
    } finally {
      this.#reporting = false;
    }
  }

  /** Final report on shutdown: publishes this instance's counters one last time. */
  async flush(): Promise<void> {
    await this.#syncOnce();
  }

  /** A fresh view now (admin routes), awaiting the store. */
  async refresh(): Promise<PoolSnapshot> {
    await this.#syncOnce();
    return this.#snapshot;
  }

  /** Publishes counters and refreshes the view in one round trip; failures keep the old view. */
  async #syncOnce(): Promise<void> {
    const report = this.#takeReport();
    this.#lastSyncAt = this.#clock();
    try {
      this.#snapshot = await this.#call(() => this.store.sync(this.options.pool, report));
      this.#reported = report.inflight;
    } catch {
      // Samples go back so the next successful sync still folds them in.
      for (const [backend, summary] of Object.entries(report.latency)) {
        const sample = this.#samples.get(backend) ?? { count: 0, sumMs: 0 };
        sample.count += summary.count;
        sample.sumMs += summary.meanMs * summary.count;
        this.#samples.set(backend, sample);
      }
      this.#inflightDirty = true;
    } finally {
      this.#warm = true;
    }
  }

  #takeReport(): InstanceReport {
    const inflight: Record<string, number> = {};
    for (const [backend, count] of this.#inflight) if (count > 0) inflight[backend] = count;
    const latency: Record<string, LatencySummary> = {};
    for (const [backend, sample] of this.#samples) {
      latency[backend] = { count: sample.count, meanMs: sample.sumMs / sample.count };
    }
    this.#samples.clear();
    this.#inflightDirty = false;
    return { instance: this.options.instance, inflight, latency, ttlMs: this.options.inflightTtlMs };
  }

  /** One store round trip with a deadline; tracks degradation and logs each change once. */
  async #call<T>(operation: () => Promise<T>): Promise<T> {
    this.stats.roundTrips++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`store timed out after ${this.options.storeTimeoutMs} ms`)),
        this.options.storeTimeoutMs,
      );
    });
    try {
      const result = await Promise.race([operation(), deadline]);
      if (this.stats.degraded) {
        this.stats.degraded = false;
        this.#log(`state store ${this.store.kind} reachable again: resynchronised`);
      }
      return result;
    } catch (error) {
      this.stats.errors++;
      this.stats.lastError = (error as Error).message;
      if (!this.stats.degraded) {
        this.stats.degraded = true;
        this.#log(
          `state store ${this.store.kind} unreachable (${this.stats.lastError}): serving from the last view and local counters`,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
