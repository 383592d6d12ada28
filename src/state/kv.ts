import { MemoryStore } from "./memory.ts";
import { checkSession, readPatch, sanitizePatch } from "./patch.ts";
import { renewalDue } from "./session-renewal.ts";
import type { BackendPatch, InstanceReport, PoolSnapshot, StateStore } from "./types.ts";

/** What this adapter needs of a Workers KV namespace binding. */
export interface KvNamespaceLike {
  get(key: string, type: "json"): Promise<unknown>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}

/** KV refuses an expirationTtl below 60 s. */
const KV_MIN_TTL_S = 60;

/**
 * A busy session's placement is rewritten at most once a minute: KV takes 1 write/s per key
 * and bills every write, and readers elsewhere may see a value up to ~60 s old anyway.
 */
const RENEW_STEP_MS = 60_000;

/** A session placement as stored under <prefix>:<pool>:sess:<key>. */
interface StoredSession {
  readonly backend: string;
  /** Epoch ms the placement lapses (KV's own expiry is whole seconds, at least 60). */
  readonly until: number;
}

type Flags = Record<string, BackendPatch>;

/**
 * Workers KV is eventually consistent (about 60 s) and takes one write per second per key, so
 * it holds only what changes rarely: each backend's record (health, admin, ejection...) and
 * session placements (below). Counters cannot live there, so round-robin positions, in-flight
 * counts and latency stay per instance (a MemoryStore), and the balancer says so once at
 * start-up rather than pretend to share them.
 *
 * Locks cannot live there either (no compare-and-set), so tryLock is the per-instance
 * MemoryStore's: every instance holds its own lock and runs its own health checks each
 * interval, writing the same results to KV. Correct, just N times the probes and KV writes.
 *
 * Session placements (claimSession) do live in KV, one key per session: a read, and a write
 * when the session is new, replaced, or due for renewal (when that moves its expiry by a quarter
 * of the ttl or a minute, whichever is less: renewalDue), so an idle session lapses up to that
 * much before its ttl. The placement carries its own expiry in ms; KV's expirationTtl only
 * clears the key, rounded up to KV's minimum of 60 s for shorter ttls. Not atomic: two
 * instances placing one new session at once can both write, and with KV's ~60 s propagation
 * they may answer differently until the last write has reached both, so a new session may switch
 * backend once in its first minute. Concurrent claims of one key on one instance share a
 * single read and write, which covers a browser's parallel first requests. Still better than a
 * per-instance placement (as for locks): on Workers an instance is an isolate, and one client's
 * requests reach many of them, so per-instance affinity would hardly hold at all, while KV
 * agrees within a location at once and everywhere within about a minute.
 */
export class KvStore implements StateStore {
  readonly kind = "kv" as const;
  readonly #local = new MemoryStore();
  /** pool + key -> the claim in flight on this instance (see the class comment). */
  readonly #claims = new Map<string, Promise<string>>();

  constructor(
    private readonly kv: KvNamespaceLike,
    private readonly prefix: string,
    log: (line: string) => void = console.warn,
  ) {
    log(
      "STATE=kv: KV is eventually consistent (~60 s, 1 write/s per key), so it shares health and admin " +
        "flags, and session placements without compare-and-set (racing instances may disagree for ~60 s); " +
        "round-robin positions, in-flight counts and latency are per instance, and health " +
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
    // Live instances are counted per instance too: each sees itself (and so never spreads its syncs).
    return { ...local, backends };
  }

  /** Read-modify-write: KV has no atomic update, which is acceptable for rare admin changes only. */
  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const clean = sanitizePatch(patch);
    const flags = await this.#flags(pool);
    flags[backend] = { ...flags[backend], ...clean };
    await this.kv.put(this.#key(pool), JSON.stringify(flags));
  }

  /** Per instance: KV cannot take a lock atomically, so each instance is its own lock holder. */
  tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    return this.#local.tryLock(pool, name, ttlMs);
  }

  /**
   * A KV read, then a put with expirationTtl when the session is placed (or re-placed) or its
   * renewal is due; see the class comment for what "atomic" means here.
   */
  async claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    const id = this.#sessionKey(pool, key);
    const pending = this.#claims.get(id);
    if (pending) {
      // Joins the claim in flight unless that one ends on the backend this caller is leaving.
      const placed = await pending.catch(() => undefined);
      if (placed !== undefined && placed !== replacing) return placed;
    }
    const claim = this.#claim(id, backend, ttl, replacing);
    this.#claims.set(id, claim);
    try {
      return await claim;
    } finally {
      if (this.#claims.get(id) === claim) this.#claims.delete(id);
    }
  }

  async #claim(id: string, backend: string, ttl: number, replacing: string | undefined): Promise<string> {
    const held = readSession(await this.kv.get(id, "json"));
    const now = Date.now();
    if (held && held.until > now && held.backend !== replacing) {
      if (renewalDue(held.until, now, ttl, RENEW_STEP_MS)) {
        // Best effort: the answer stands either way, and the likely failure is another instance
        // renewing the same key in the same second (KV: 1 write/s per key), which did the job.
        await this.#putSession(id, held.backend, now, ttl).catch(() => {});
      }
      return held.backend;
    }
    await this.#putSession(id, backend, now, ttl);
    return backend;
  }

  #putSession(id: string, backend: string, now: number, ttl: number): Promise<void> {
    const value: StoredSession = { backend, until: now + ttl };
    // KV's own expiry only clears the key; `until` decides, so rounding up to KV's minimum is safe.
    const expirationTtl = Math.max(KV_MIN_TTL_S, Math.ceil(ttl / 1000));
    return this.kv.put(id, JSON.stringify(value), { expirationTtl });
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

  #sessionKey(pool: string, key: string): string {
    return `${this.prefix}:${pool}:sess:${key}`;
  }
}

/** A stored placement, or undefined for anything else (absent, hand-edited, older format). */
function readSession(stored: unknown): StoredSession | undefined {
  if (typeof stored !== "object" || stored === null) return undefined;
  const { backend, until } = stored as Record<string, unknown>;
  if (typeof backend !== "string" || backend === "" || typeof until !== "number") return undefined;
  return { backend, until };
}
