import { MemoryStore } from "./memory.ts";
import { readPatch, sanitizePatch } from "./patch.ts";
import type { BackendPatch, InstanceReport, PoolSnapshot, StateStore } from "./types.ts";

/** What this adapter needs of a Workers KV namespace binding. */
export interface KvNamespaceLike {
  get(key: string, type: "json"): Promise<unknown>;
  put(key: string, value: string): Promise<void>;
}

type Flags = Record<string, BackendPatch>;

/**
 * Workers KV is eventually consistent (about 60 s) and takes one write per second per key, so
 * it holds only what changes rarely: each backend's record (health, admin, ejection...). Counters
 * cannot live there, so round-robin positions, in-flight counts and latency stay per instance (a
 * MemoryStore), and the balancer says so once at start-up rather than pretend to share them.
 *
 * Locks cannot live there either (no compare-and-set), so tryLock is the per-instance
 * MemoryStore's: every instance holds its own lock and runs its own health checks each
 * interval, writing the same results to KV. Correct, just N times the probes and KV writes.
 */
export class KvStore implements StateStore {
  readonly kind = "kv" as const;
  readonly #local = new MemoryStore();

  constructor(
    private readonly kv: KvNamespaceLike,
    private readonly prefix: string,
    log: (line: string) => void = console.warn,
  ) {
    log(
      "STATE=kv: KV is eventually consistent (~60 s, 1 write/s per key), so it shares health and admin " +
        "flags only; round-robin positions, in-flight counts and latency are per instance, and health " +
        "checks run per instance (every instance probes every backend). " +
        "Use durable-object or upstash for a shared rotation and one checker per pool.",
    );
  }

  reserve(pool: string, count: number): Promise<number> {
    return this.#local.reserve(pool, count);
  }

  async sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    const [local, flags] = await Promise.all([this.#local.sync(pool, report), this.#flags(pool)]);
    const backends = { ...local.backends };
    for (const [name, patch] of Object.entries(flags)) {
      backends[name] = { ...backends[name], inflight: backends[name]?.inflight ?? 0, ...patch };
    }
    return { takenAt: local.takenAt, backends };
  }

  /** Read-modify-write: KV has no atomic update, which is acceptable for rare admin changes only. */
  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const clean = sanitizePatch(patch);
    const flags = await this.#flags(pool);
    flags[backend] = { ...flags[backend], ...clean };
    await this.kv.put(this.#key(pool), JSON.stringify(flags));
  }

  /** Per instance: KV cannot take a lock atomically, so each instance is its own lock holder. */
  /** Placeholder until the store implements it (branch aff-store). */
  claimSession(_pool: string, _key: string, backend: string, _ttlMs: number): Promise<string> {
    return Promise.resolve(backend);
  }

  tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    return this.#local.tryLock(pool, name, ttlMs);
  }

  /** The pool's records as stored, each cut down to its valid fields (the key may be hand-edited). */
  async #flags(pool: string): Promise<Flags> {
    const value = await this.kv.get(this.#key(pool), "json");
    const flags: Flags = {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) return flags;
    for (const [backend, stored] of Object.entries(value)) flags[backend] = readPatch(stored);
    return flags;
  }

  #key(pool: string): string {
    return `${this.prefix}:${pool}:flags`;
  }
}
