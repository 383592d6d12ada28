import { DurableObject } from "cloudflare:workers";
import { judgeRound } from "../../health/judge-round.ts";
import { probe } from "../../health/probe.ts";
import type { LatencyEstimate } from "../../shared/backend.ts";
import { consoleRecord } from "../../shared/console-record.ts";
import type { ProbeSpec } from "../../shared/probe-spec.ts";
import type { PoolObjectNamespace } from "../../state/durable-object-store.ts";
import { checkCount, checkLock, checkSession, readPatch, sanitizePatch } from "../../state/patch.ts";
import { Presence } from "../../state/presence.ts";
import { type InstanceEntry, mergeReport, snapshotOf, withLive } from "../../state/snapshot.ts";
import type { BackendPatch, HealthWatch, InstanceReport, PoolSnapshot } from "../../state/types.ts";
import { SessionTable } from "./session-table.ts";

/** Storage keys (synchronous KV API of a SQLite-backed object, table __cf_kv). */
const SEQUENCE_KEY = "seq";
const FLAGS_PREFIX = "flags/";
const LATENCY_PREFIX = "latency/";
const HEALTH_WATCH_KEY = "health-watch";
const HEALTH_LOCK = "health";
/** Expired session placements the alarm deletes per round, on top of each claim's own sweep. */
const ALARM_SWEEP = 500;

/**
 * One pool's shared state (the store calls `idFromName(pool)`), served to DurableObjectStore
 * over RPC. Exported from the Worker entry only: Node, Bun and Deno never import this file.
 *
 * Atomicity: every method is synchronous from its first read to its last write (no await), so
 * the object's single thread makes each call one atomic step, like MemoryStore in one process.
 *
 * Durability: the class is SQLite-backed (`new_sqlite_classes` in wrangler.toml) and uses the
 * synchronous KV API (`ctx.storage.kv`). State lives in memory and every change is written
 * through in the same step: a synchronous local SQLite write, committed at the end of the event,
 * and the runtime's output gate holds the RPC reply until that commit is durable. So the
 * sequence, the health/admin flags and the shared latency estimates survive eviction and
 * restarts; reads never touch storage after the constructor. A backend's record is stored
 * whole (every BackendPatch field set so far) under flags/<backend>. Session placements
 * (claimSession) are durable too, but read per call from their own SQLite table instead of
 * being loaded here: there can be many, and most are never asked for again (SessionTable).
 *
 * Memory only: the instances' in-flight reports. They are valid for at most their ttlMs
 * (seconds) and every live instance re-reports within its sync interval, so after a restart
 * the view is briefly short of in-flight counts and then whole again. Persisting them would
 * cost a write per report for nothing. Likewise the tryLock locks: see tryLock.
 *
 * Health checks between requests: once an instance hands over the pool's check (watchHealth),
 * the object's alarm probes every interval, even when no request arrives and below the Cron
 * Trigger's one minute. It takes the same "health" lock as the instances' lazy checks, so the
 * group still runs one round per interval, and applies the same rules (judgeRound).
 */
export class PoolStateObject extends DurableObject<unknown> {
  /** LOG_FORMAT=json: health transitions as objects, like the Worker's own. */
  readonly #jsonLog: boolean;
  #sequence: number;
  readonly #flags = new Map<string, BackendPatch>();
  readonly #latency = new Map<string, LatencyEstimate>();
  /** instance -> its last report and when that report stops counting (memory only, see above). */
  readonly #instances = new Map<string, InstanceEntry>();
  /** lock name -> when it frees itself (epoch ms); memory only, see tryLock. */
  readonly #locks = new Map<string, number>();
  /** Live instances (reports naming liveMs); memory only, like the reports themselves. */
  readonly #presence = new Presence();

  readonly #sessions: SessionTable;

  #watch: HealthWatch | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.#jsonLog = (env as { LOG_FORMAT?: unknown } | undefined)?.LOG_FORMAT === "json";
    this.#sessions = new SessionTable(ctx.storage.sql);
    // The synchronous API needs no blockConcurrencyWhile: nothing can interleave a constructor.
    const kv = ctx.storage.kv;
    this.#watch = readWatch(kv.get<unknown>(HEALTH_WATCH_KEY));
    this.#sequence = kv.get<number>(SEQUENCE_KEY) ?? 0;
    for (const [key, stored] of kv.list<unknown>({ prefix: FLAGS_PREFIX })) {
      // Valid fields only: a record written by an older version keeps what still makes sense.
      this.#flags.set(key.slice(FLAGS_PREFIX.length), readPatch(stored));
    }
    for (const [key, estimate] of kv.list<LatencyEstimate>({ prefix: LATENCY_PREFIX })) {
      this.#latency.set(key.slice(LATENCY_PREFIX.length), estimate);
    }
  }

  /** Adds `count` to the sequence and returns the first of the `count` positions reserved. */
  reserve(count: number): number {
    const first = this.#sequence;
    this.#sequence += checkCount(count);
    this.ctx.storage.kv.put(SEQUENCE_KEY, this.#sequence);
    return first;
  }

  /** Records the report (if any) and returns the pool's shared view. Same rules as MemoryStore. */
  sync(report: InstanceReport | undefined): PoolSnapshot {
    const now = Date.now();
    if (report) {
      const merged = mergeReport(this.#latency, report, now);
      // An empty report leaves nothing to sum, so nothing is kept (as Redis's HDEL): a sync's
      // work grows with the instances that have requests in flight, not with every instance.
      if (Object.keys(report.inflight).length === 0) this.#instances.delete(report.instance);
      else this.#instances.set(report.instance, merged.entry);
      for (const [backend, estimate] of Object.entries(merged.latency)) {
        this.#latency.set(backend, estimate);
        this.ctx.storage.kv.put(LATENCY_PREFIX + backend, estimate);
      }
      if (report.liveMs !== undefined) this.#presence.report(report.instance, now + report.liveMs);
    }
    const { snapshot, expired } = snapshotOf(
      { instances: this.#instances, flags: this.#flags, latency: this.#latency },
      now,
    );
    for (const instance of expired) this.#instances.delete(instance);
    return withLive(snapshot, this.#presence.count(now));
  }

  /**
   * Merges `patch` into the backend's record. Validated here as well as in the adapter: this
   * object is the authority over what gets persisted, whoever calls it. Unknown fields or
   * wrong types throw (a TypeError) and nothing is written.
   */
  setBackend(backend: string, patch: BackendPatch): void {
    this.#patch(backend, sanitizePatch(patch));
  }

  /**
   * SET NX PX: true when the lock was free (never taken, or its ttl has passed) and is now the
   * caller's for `ttlMs`. Synchronous, so 20 concurrent callers get exactly one true.
   *
   * In memory only, on purpose: if the object is evicted or restarted the locks are forgotten
   * and the next caller takes the lock early. The locks only pick which instance runs a pool's
   * health checks this interval, so losing one costs at most one extra round of checks, not a
   * wrong result; persisting them would cost a storage write per interval for nothing.
   */
  tryLock(name: string, ttlMs: number): boolean {
    const ttl = checkLock(name, ttlMs);
    const now = Date.now();
    const until = this.#locks.get(name);
    if (until !== undefined && until > now) return false;
    this.#locks.set(name, now + ttl);
    return true;
  }

  /**
   * Session placement (StateStore.claimSession) in one synchronous step, so two instances
   * placing one new session at once get the same answer. Checked here as well as in the adapter,
   * like setBackend: this object decides what gets persisted.
   */
  claimSession(key: string, backend: string, ttlMs: number, replacing?: string): string {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    return this.#sessions.claim(key, backend, ttl, replacing, Date.now());
  }

  /** Takes over the pool's active checks: stored durably, run on the alarm from now on. */
  async watchHealth(watch: HealthWatch): Promise<void> {
    this.#watch = watch;
    this.ctx.storage.kv.put(HEALTH_WATCH_KEY, watch);
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + watch.check.intervalMs);
    }
  }

  override async alarm(): Promise<void> {
    const watch = this.#watch;
    if (!watch) return;
    const interval = watch.check.intervalMs;
    this.#sessions.sweep(Date.now(), ALARM_SWEEP);
    if (this.tryLock(HEALTH_LOCK, interval)) {
      const results = await Promise.all(watch.backends.map((backend) => probe(backend, watch.check)));
      // Applied after the probes, against the records as they are now: one synchronous step.
      const now = Date.now();
      for (const change of judgeRound(watch.backends, results, (name) => this.#flags.get(name), watch.check, now)) {
        this.#patch(change.backend.name, change.patch);
        if (!change.line) continue;
        // The Worker's LOG_FORMAT reaches the object through the same vars.
        if (this.#jsonLog) consoleRecord({ time: new Date(now).toISOString(), ...change.event });
        else console.log(change.line);
      }
    }
    await this.ctx.storage.setAlarm(Date.now() + interval);
  }

  #patch(backend: string, patch: BackendPatch): void {
    const merged: BackendPatch = { ...this.#flags.get(backend), ...patch };
    this.#flags.set(backend, merged);
    this.ctx.storage.kv.put(FLAGS_PREFIX + backend, merged);
  }
}

/**
 * A watch as stored. One written before the check became a ProbeSpec has no intervalMs and
 * would set alarms at NaN: it is dropped, and the next instance's checker hands the checks over
 * again in the current form.
 */
function readWatch(stored: unknown): HealthWatch | undefined {
  const check = (stored as { check?: Partial<ProbeSpec> } | undefined)?.check;
  return typeof check?.intervalMs === "number" ? (stored as HealthWatch) : undefined;
}

/** The binding as the Worker's env holds it; fails to compile if DurableObjectStore can't use it. */
type Fits<T extends PoolObjectNamespace> = T;
export type PoolStateNamespace = Fits<DurableObjectNamespace<PoolStateObject>>;
