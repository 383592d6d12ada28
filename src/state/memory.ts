import type { LatencyEstimate } from "../shared/backend.ts";
import { checkCount, checkLock, checkSession, sanitizePatch } from "./patch.ts";
import { Presence } from "./presence.ts";
import { type InstanceEntry, mergeReport, snapshotOf, withLive } from "./snapshot.ts";
import type { BackendPatch, InstanceReport, PoolSnapshot, StateStore } from "./types.ts";

interface PoolRecord {
  sequence: number;
  flags: Map<string, BackendPatch>;
  latency: Map<string, LatencyEstimate>;
  /** instance -> its last report and when that report stops counting */
  instances: Map<string, InstanceEntry>;
  /** lock name -> when it frees itself (clock ms); an entry at or past it is free */
  locks: Map<string, number>;
  /** session key -> its backend and when the placement lapses (clock ms) */
  sessions: Map<string, { backend: string; until: number }>;
  presence: Presence;
}

/** One process's state: exact and atomic because JavaScript runs one task at a time. */
export class MemoryStore implements StateStore {
  readonly kind = "memory" as const;
  readonly #pools = new Map<string, PoolRecord>();

  constructor(private readonly clock: () => number = Date.now) {}

  async reserve(pool: string, count: number): Promise<number> {
    const record = this.#pool(pool);
    const first = record.sequence;
    record.sequence += checkCount(count);
    return first;
  }

  async sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    const record = this.#pool(pool);
    const now = this.clock();
    if (report) {
      const merged = mergeReport(record.latency, report, now);
      // An empty report leaves nothing to sum, so nothing is kept (as Redis's HDEL): a sync's
      // work grows with the instances that have requests in flight, not with every instance.
      if (Object.keys(report.inflight).length === 0) record.instances.delete(report.instance);
      else record.instances.set(report.instance, merged.entry);
      for (const [backend, estimate] of Object.entries(merged.latency)) record.latency.set(backend, estimate);
      if (report.liveMs !== undefined) record.presence.report(report.instance, now + report.liveMs);
    }
    const { snapshot, expired } = snapshotOf(record, now);
    for (const instance of expired) record.instances.delete(instance);
    return withLive(snapshot, record.presence.count(now));
  }

  /** Merges the patch (validated: PATCH_FIELDS only, each of the right type) into the record. */
  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const clean = sanitizePatch(patch);
    const flags = this.#pool(pool).flags;
    flags.set(backend, { ...flags.get(backend), ...clean });
  }

  /** SET NX PX on the store's clock: only a free (absent or expired) lock can be taken. */
  async tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    const ttl = checkLock(name, ttlMs);
    const locks = this.#pool(pool).locks;
    const now = this.clock();
    const until = locks.get(name);
    if (until !== undefined && until > now) return false;
    locks.set(name, now + ttl);
    return true;
  }

  async claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    const sessions = this.#pool(pool).sessions;
    const now = this.clock();
    const held = sessions.get(key);
    const placed = held && held.until > now && held.backend !== replacing ? held.backend : backend;
    // Deleted first so the map stays in expiry order and the sweep below stops at the first live one.
    sessions.delete(key);
    sessions.set(key, { backend: placed, until: now + ttl });
    for (const [old, entry] of sessions) {
      if (entry.until > now) break;
      sessions.delete(old);
    }
    return placed;
  }

  #pool(name: string): PoolRecord {
    let record = this.#pools.get(name);
    if (!record) {
      record = {
        sequence: 0,
        flags: new Map(),
        latency: new Map(),
        instances: new Map(),
        locks: new Map(),
        sessions: new Map(),
        presence: new Presence(),
      };
      this.#pools.set(name, record);
    }
    return record;
  }
}
