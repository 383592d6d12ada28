// The shared state in Deno KV (Deno.openKv: a local SQLite file, or Deno Deploy's global store).
// Imported by the Deno entry point only (src/runtime/deno.ts), never by create-store.ts, so it
// stays out of the Worker, Node and Bun bundles. Deno KV has no server-side scripts, so every
// read-modify-write is optimistic: read with versionstamps, commit an atomic operation that
// checks them, and read again when another instance got there first.
import type { LatencyEstimate } from "../shared/backend.ts";
import { checkCount, checkLock, checkSession, readPatch, sanitizePatch } from "./patch.ts";
import { renewalDue } from "./session-renewal.ts";
import { type InstanceEntry, mergeReport, snapshotOf, withLive } from "./snapshot.ts";
import { type BackendPatch, type InstanceReport, POOL_NAME, type PoolSnapshot, type StateStore } from "./types.ts";

/** The little of Deno KV's API used here (this project type-checks with tsc, not deno check). */
export type KvKey = readonly (string | number)[];
export interface KvEntryLike<T> {
  readonly key: readonly unknown[];
  readonly value: T | null;
  readonly versionstamp: string | null;
}
export interface KvAtomicLike {
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomicLike;
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomicLike;
  sum(key: KvKey, n: bigint): KvAtomicLike;
  delete(key: KvKey): KvAtomicLike;
  /** `ok: false` when a check failed; throws for anything else. */
  commit(): Promise<{ readonly ok: boolean }>;
}
export interface DenoKvLike {
  get<T>(key: KvKey): Promise<KvEntryLike<T>>;
  getMany<T>(keys: KvKey[]): Promise<KvEntryLike<T>[]>;
  list<T>(selector: { prefix: KvKey }): AsyncIterable<KvEntryLike<T>>;
  atomic(): KvAtomicLike;
  close(): void;
}

/** A KvU64 as read back: the sequence's counter. */
interface KvU64Like {
  readonly value: bigint;
}

/** Tries of one optimistic read-modify-write before the call fails (the caller falls back). */
const MAX_TRIES = 64;
/** A busy session's expiry is rewritten at most this often (see renewalDue). */
const RENEW_STEP_MS = 1_000;
/** Keys with an expiry of their own are deleted by KV this long after it (cleanup only). */
const CLEANUP_SLACK_MS = 60_000;

interface ReserveQueue {
  readonly waiting: { count: number; resolve: (first: number) => void; reject: (error: unknown) => void }[];
  running: boolean;
}

interface Listed<T> {
  readonly value: T;
  readonly versionstamp: string | null;
}

/** A lock, or an instance's presence: held (live) until `until`. */
interface StoredLock {
  readonly until: number;
}
interface StoredSession {
  readonly backend: string;
  readonly until: number;
}

/**
 * Keys, all under [prefix, pool]: "seq" (KvU64), "flags"/backend (the backend's record),
 * "lat"/backend (shared latency estimate), "inst"/instance (last report: in-flight counts and
 * their expiry), "live"/instance ({until}: counted live), "lock"/name ({until}), "sess"/key
 * ({backend, until}). Values carry their own
 * expiry and KV's `expireIn` only clears them later: KV may still return a key past its expireIn.
 *
 * The clock is this process's (Date.now): Deno KV has no server time. Instances on one machine,
 * or on Deno Deploy's synchronised hosts, agree on it within milliseconds.
 */
export class DenoKvStore implements StateStore {
  readonly kind = "deno-kv" as const;
  /** Per pool: reservations waiting for this process's next sum (see reserve). */
  readonly #reserving = new Map<string, ReserveQueue>();

  constructor(
    private readonly kv: Promise<DenoKvLike>,
    private readonly prefix: string,
    private readonly clock: () => number = Date.now,
  ) {
    // Opening errors surface at the first call (and at start-up, where the entry point awaits it).
    kv.catch(() => undefined);
  }

  /** Resolves once the database is open; rejects with why it cannot be. */
  async opened(): Promise<void> {
    await this.kv;
  }

  /**
   * A checked sum on the KvU64: atomic, and the read it checks gives the block's first position.
   * Calls that arrive while this process's previous sum is in flight share the next one (one
   * sum of their counts, the block split in call order), so under load each process makes one
   * optimistic write at a time and contends only with other processes.
   */
  reserve(pool: string, count: number): Promise<number> {
    const n = checkCount(count);
    let queue = this.#reserving.get(pool);
    if (!queue) {
      queue = { waiting: [], running: false };
      this.#reserving.set(pool, queue);
    }
    const placed = new Promise<number>((resolve, reject) => queue.waiting.push({ count: n, resolve, reject }));
    if (!queue.running) void this.#drain(pool, queue);
    return placed;
  }

  async #drain(pool: string, queue: ReserveQueue): Promise<void> {
    queue.running = true;
    const key = this.#key(pool, "seq");
    while (queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0);
      const total = batch.reduce((sum, call) => sum + call.count, 0);
      try {
        let first = await this.#retry("reserve", async (kv) => {
          const entry = await kv.get<KvU64Like>(key);
          const current = entry.value ? Number(entry.value.value) : 0;
          if (total === 0) return current;
          const { ok } = await kv.atomic().check(checkOf(key, entry)).sum(key, BigInt(total)).commit();
          return ok ? current : undefined;
        });
        for (const call of batch) {
          call.resolve(first);
          first += call.count;
        }
      } catch (error) {
        for (const call of batch) call.reject(error);
      }
    }
    queue.running = false;
    this.#reserving.delete(pool);
  }

  async sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    const kv = await this.kv;
    const now = this.clock();
    if (report) await this.#publish(pool, report, now);
    // Reads too are tried again when another process holds the file.
    const [instances, flags, latency, presence] = await this.#retry("sync", () =>
      Promise.all([
        this.#list<InstanceEntry>(kv, pool, "inst"),
        this.#list<unknown>(kv, pool, "flags"),
        this.#list<LatencyEstimate>(kv, pool, "lat"),
        this.#list<StoredLock>(kv, pool, "live"),
      ]),
    );
    const records = {
      instances: new Map([...instances].map(([name, entry]) => [name, entry.value])),
      flags: new Map([...flags].map(([name, entry]) => [name, readPatch(entry.value)])),
      latency: new Map([...latency].map(([name, entry]) => [name, entry.value])),
    };
    const { snapshot, expired } = snapshotOf(records, now);
    if (expired.length > 0) {
      // Only what is still the expired report: a fresh one written since stays.
      const removal = kv.atomic();
      for (const name of expired) {
        const key = this.#key(pool, "inst", name);
        removal.check(checkOf(key, instances.get(name)!)).delete(key);
      }
      // Best effort: the next sync tries again, and the view above already leaves them out.
      await removal.commit().catch(() => undefined);
    }
    // One entry read per live instance: fine for the tens or hundreds of isolates Deno Deploy
    // runs; the stores that keep a pool in one place (memory, Durable Object, Redis) count in O(1).
    let live = 0;
    for (const { value } of presence.values()) if (value.until > now) live++;
    return withLive(snapshot, live);
  }

  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const clean = sanitizePatch(patch);
    const key = this.#key(pool, "flags", backend);
    await this.#retry("setBackend", async (kv) => {
      const entry = await kv.get<unknown>(key);
      const merged: BackendPatch = { ...readPatch(entry.value), ...clean };
      return (await kv.atomic().check(checkOf(key, entry)).set(key, merged).commit()).ok ? true : undefined;
    });
  }

  /** Free when absent or past its `until`; of racing callers only the first commit passes its check. */
  async tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    const ttl = checkLock(name, ttlMs);
    const key = this.#key(pool, "lock", name);
    return this.#retry("tryLock", async (kv) => {
      const entry = await kv.get<StoredLock>(key);
      const now = this.clock();
      if (entry.value && entry.value.until > now) return false;
      const lock: StoredLock = { until: now + ttl };
      const op = kv.atomic().check(checkOf(key, entry));
      // A failed check means another caller took it first.
      return (await op.set(key, lock, { expireIn: cleanupAfter(ttl) }).commit()).ok;
    });
  }

  async claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    const id = this.#key(pool, "sess", key);
    return this.#retry("claimSession", async (kv) => {
      const entry = await kv.get<StoredSession>(id);
      const held = readSession(entry.value);
      const now = this.clock();
      if (held && held.until > now && held.backend !== replacing) {
        if (!renewalDue(held.until, now, ttl, RENEW_STEP_MS)) return held.backend;
        // A renewal that loses to another claim is re-read: that claim may have moved the session.
        return (await this.#putSession(kv, id, entry, held.backend, now + ttl)) ? held.backend : undefined;
      }
      return (await this.#putSession(kv, id, entry, backend, now + ttl)) ? backend : undefined;
    });
  }

  async close(): Promise<void> {
    (await this.kv).close();
  }

  /** One report in one atomic step: the instance's entry, and the latency estimates it moves. */
  async #publish(pool: string, report: InstanceReport, now: number): Promise<void> {
    const backends = Object.keys(report.latency).filter((name) => (report.latency[name]?.count ?? 0) > 0);
    const instanceKey = this.#key(pool, "inst", report.instance);
    await this.#retry("sync", async (kv) => {
      const keys = backends.map((name) => this.#key(pool, "lat", name));
      const entries = keys.length > 0 ? await kv.getMany<LatencyEstimate>(keys) : [];
      const current = new Map<string, LatencyEstimate>();
      backends.forEach((name, i) => {
        const estimate = entries[i]?.value;
        if (estimate) current.set(name, estimate);
      });
      const merged = mergeReport(current, report, now);
      const op = kv.atomic();
      entries.forEach((entry, i) => {
        op.check(checkOf(keys[i]!, entry));
      });
      for (const [name, estimate] of Object.entries(merged.latency)) op.set(this.#key(pool, "lat", name), estimate);
      // An empty report leaves nothing behind, as on Redis.
      if (Object.keys(report.inflight).length === 0) op.delete(instanceKey);
      else op.set(instanceKey, merged.entry, { expireIn: cleanupAfter(report.ttlMs) });
      if (report.liveMs !== undefined && Number.isFinite(report.liveMs)) {
        const presence: StoredLock = { until: now + report.liveMs };
        op.set(this.#key(pool, "live", report.instance), presence, {
          expireIn: cleanupAfter(report.liveMs),
        });
      }
      return (await op.commit()).ok ? true : undefined;
    });
  }

  async #putSession(
    kv: DenoKvLike,
    id: KvKey,
    entry: KvEntryLike<unknown>,
    backend: string,
    until: number,
  ): Promise<boolean> {
    const value: StoredSession = { backend, until };
    const expireIn = cleanupAfter(until - this.clock());
    return (await kv.atomic().check(checkOf(id, entry)).set(id, value, { expireIn }).commit()).ok;
  }

  /** The entries under [prefix, pool, kind], by their last key part. */
  async #list<T>(kv: DenoKvLike, pool: string, kind: string): Promise<Map<string, Listed<T>>> {
    const out = new Map<string, Listed<T>>();
    for await (const { key, value, versionstamp } of kv.list<T>({ prefix: this.#key(pool, kind) })) {
      if (value !== null) out.set(String(key[key.length - 1]), { value, versionstamp });
    }
    return out;
  }

  /** Runs one optimistic step until it commits (a value) or has lost MAX_TRIES races (throws). */
  async #retry<T>(operation: string, step: (kv: DenoKvLike) => Promise<T | undefined>): Promise<T> {
    const kv = await this.kv;
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const result = await step(kv).catch((error: Error) => {
        // SQLite's busy answer when another process (or handle) holds the file's write lock.
        if (/database is locked/i.test(error.message)) return undefined;
        throw error;
      });
      if (result !== undefined) return result;
      // Another instance committed in between, or held the file: back off a little, more after each loss.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20, 1 + attempt)));
    }
    throw new Error(`${operation}: lost ${MAX_TRIES} races for the same key`);
  }

  #key(pool: string, ...parts: string[]): KvKey {
    if (!POOL_NAME.test(pool)) {
      throw new TypeError(`invalid pool name ${JSON.stringify(pool)}: expected letters, digits and _ . - only`);
    }
    return [this.prefix, pool, ...parts];
  }
}

/** KV's expireIn for a value that expires by itself after `ms`: whole ms (KV refuses fractions), later. */
function cleanupAfter(ms: number): number {
  return Math.ceil(Math.max(1, ms) + CLEANUP_SLACK_MS);
}

/** The check that `key` is still as `entry` read it (absent: still absent). */
function checkOf(
  key: KvKey,
  entry: { readonly versionstamp: string | null },
): { key: KvKey; versionstamp: string | null } {
  return { key, versionstamp: entry.versionstamp };
}

/** A stored placement, or undefined for anything else (absent, hand-edited, older format). */
function readSession(stored: unknown): StoredSession | undefined {
  if (typeof stored !== "object" || stored === null) return undefined;
  const { backend, until } = stored as Record<string, unknown>;
  if (typeof backend !== "string" || backend === "" || typeof until !== "number") return undefined;
  return { backend, until };
}
