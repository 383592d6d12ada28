// The shared state in Redis over Upstash's REST API (@upstash/redis). Every StateStore call is
// one HTTP request running one atomic Redis command or Lua script; the key layout and the
// scripts are in upstash-scripts.ts.
//
// "@upstash/redis/cloudflare" on purpose: the package's "." export has only import/require
// conditions, so under esbuild's ["workerd","worker","browser"] it still resolves to the Node
// build (nodejs.mjs), which passes `cache: "no-store"` to fetch. The cloudflare build is the
// same client without that field and without process.env, and runs unchanged on Node 20, Bun,
// Deno and workerd (it needs only fetch, atob, TextEncoder and crypto.subtle).
import { Redis } from "@upstash/redis/cloudflare";
import type { LatencyEstimate } from "../shared/backend.ts";
import { checkCount, checkLock, checkSession, patchStrings, readPatch, sanitizePatch } from "./patch.ts";
import {
  type BackendPatch,
  type BackendSnapshot,
  type InstanceReport,
  POOL_NAME,
  type PoolSnapshot,
  type StateStore,
} from "./types.ts";
import { FLAG_SEPARATOR, type KeyName, SESSION_SCRIPT, SYNC_SCRIPT } from "./upstash-scripts.ts";

export interface UpstashStoreOptions {
  /** UPSTASH_REDIS_REST_URL */
  readonly url: string;
  /** UPSTASH_REDIS_REST_TOKEN */
  readonly token: string;
  /** Namespaces every key: `${prefix}:${pool}:...`. */
  readonly prefix: string;
  /**
   * Aborts a request the store has not answered within this time (default 10 s). The cache
   * gives up much sooner (store_timeout_ms); this only stops abandoned requests piling up
   * while the store hangs.
   */
  readonly timeoutMs?: number;
}

/** What this adapter uses of the client's Script (createScript): the class is not exported. */
interface LuaScript {
  /** EVAL: sends the source, which also loads it into Redis's script cache. */
  eval(keys: string[], args: string[]): Promise<unknown>;
  /** EVALSHA, and EVAL once more if Redis answers NOSCRIPT. */
  exec(keys: string[], args: string[]): Promise<unknown>;
}

export class UpstashStore implements StateStore {
  readonly kind = "upstash" as const;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #sync: ScriptRunner;
  readonly #session: ScriptRunner;

  constructor(options: UpstashStoreOptions) {
    if (!options.prefix) throw new TypeError("UpstashStore: prefix must not be empty");
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.#prefix = options.prefix;
    this.#redis = new Redis({
      url: options.url,
      token: options.token,
      // One StateStore call = one HTTP request: batching with unrelated commands would only
      // couple their latencies and failures.
      enableAutoPipelining: false,
      enableTelemetry: false,
      // `retry: false` still allows one immediate second attempt in 1.39.0 (attempts = 1 with a
      // `<=` loop); zero retries means exactly one fetch. The cache has its own deadline and
      // keeps serving from its last view, so a retry loop here would only hold requests.
      retry: { retries: 0, backoff: () => 0 },
      // Every call runs on the primary (scripts and INCRBY/HSET are writes), so read-your-writes
      // tokens add nothing; they would also be shared mutable state across concurrent calls.
      readYourWrites: false,
      // Results are parsed here, not guessed at by the client.
      automaticDeserialization: false,
      // A function so every request gets a fresh signal; the client rejects when it fires.
      signal: () => AbortSignal.timeout(timeoutMs),
    });
    this.#sync = new ScriptRunner(this.#redis, SYNC_SCRIPT);
    this.#session = new ScriptRunner(this.#redis, SESSION_SCRIPT);
  }

  async reserve(pool: string, count: number): Promise<number> {
    const end = await this.#redis.incrby(this.#key(pool, "seq"), checkCount(count));
    const value = Number(end);
    if (!Number.isSafeInteger(value)) throw new Error(`reserve: unexpected INCRBY reply ${String(end)}`);
    return value - count;
  }

  async sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    const keys = [this.#key(pool, "inst"), this.#key(pool, "flags"), this.#key(pool, "lat"), this.#key(pool, "live")];
    const reply = await this.#sync.run(keys, report ? reportArgs(report) : []);
    if (typeof reply !== "string") throw new Error(`sync: unexpected script reply ${JSON.stringify(reply)}`);
    return parseSnapshot(reply);
  }

  /**
   * One HSET of the patched fields ("<backend>|<field>" -> value as a string): atomic, and a
   * merge with whatever else is set. The patch is validated first (sanitizePatch).
   */
  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const fields: Record<string, string> = {};
    for (const [field, value] of Object.entries(patchStrings(sanitizePatch(patch)))) {
      fields[`${backend}${FLAG_SEPARATOR}${field}`] = value;
    }
    const key = this.#key(pool, "flags");
    if (Object.keys(fields).length === 0) return;
    await this.#redis.hset(key, fields);
  }

  /** One SET <prefix>:<pool>:lock:<name> 1 NX PX ttlMs: "OK" when taken, nil when held. */
  async tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    const ttl = checkLock(name, ttlMs);
    const reply = await this.#redis.set(this.#key(pool, `lock:${name}`), "1", { nx: true, px: ttl });
    return reply === "OK";
  }

  /** One run of SESSION_SCRIPT on <prefix>:<pool>:sess:<key> (GET, then PEXPIRE or SET PX). */
  async claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    const args = [backend, String(ttl)];
    if (replacing !== undefined) args.push(replacing);
    const reply = await this.#session.run([this.#key(pool, `sess:${key}`)], args);
    if (typeof reply !== "string" || reply === "") {
      throw new Error(`claimSession: unexpected script reply ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  #key(pool: string, name: KeyName | `lock:${string}` | `sess:${string}`): string {
    if (!POOL_NAME.test(pool)) {
      throw new TypeError(`invalid pool name ${JSON.stringify(pool)}: expected letters, digits and _ . - only`);
    }
    return `${this.#prefix}:${pool}:${name}`;
  }
}

/**
 * One Lua script on one client. The first run sends the source (a fresh client cannot know
 * whether Redis has the script, and EVALSHA would cost a second request when it has not);
 * later runs send only the SHA, and a NOSCRIPT (script cache flushed, failover) costs one extra
 * EVAL.
 */
class ScriptRunner {
  /**
   * Made on first use, not in the store's constructor: createScript starts hashing the source
   * at once, and workerd allows no async work at startup (a store may be built in a Worker's
   * global scope).
   */
  #script: LuaScript | undefined;
  /** Once an EVAL of the script succeeded on this client, EVALSHA is worth trying. */
  #loaded = false;

  constructor(
    private readonly redis: Redis,
    private readonly source: string,
  ) {}

  async run(keys: string[], args: string[]): Promise<unknown> {
    this.#script ??= this.redis.createScript(this.source);
    const script = this.#script;
    if (this.#loaded) return script.exec(keys, args);
    const result = await script.eval(keys, args);
    this.#loaded = true;
    return result;
  }
}

/** ARGV of the sync script: instance, ttlMs, in-flight JSON, liveMs or "", then (backend, count, meanMs)*. */
function reportArgs(report: InstanceReport): string[] {
  const inflight: Record<string, number> = {};
  for (const [backend, count] of Object.entries(report.inflight)) {
    if (Number.isFinite(count)) inflight[backend] = count;
  }
  const ttlMs = Number.isFinite(report.ttlMs) ? Math.max(0, report.ttlMs) : 0;
  const liveMs =
    report.liveMs !== undefined && Number.isFinite(report.liveMs) ? String(Math.max(0, report.liveMs)) : "";
  const args = [report.instance, String(ttlMs), JSON.stringify(inflight), liveMs];
  for (const [backend, summary] of Object.entries(report.latency)) {
    if (summary.count > 0 && Number.isFinite(summary.count) && Number.isFinite(summary.meanMs)) {
      args.push(backend, String(summary.count), String(summary.meanMs));
    }
  }
  return args;
}

interface WireBackend {
  i?: unknown;
  /** The backend's flags as stored: field -> string value (see SYNC_SCRIPT). */
  f?: unknown;
  l?: unknown;
}

function parseSnapshot(reply: string): PoolSnapshot {
  const parsed = JSON.parse(reply) as { t?: unknown; b?: unknown; n?: unknown };
  if (typeof parsed.t !== "number" || typeof parsed.b !== "object" || parsed.b === null) {
    throw new Error(`sync: malformed script reply ${reply.slice(0, 200)}`);
  }
  const backends: Record<string, BackendSnapshot> = {};
  for (const [name, wire] of Object.entries(parsed.b as Record<string, WireBackend>)) {
    // Numbers come back as the strings HSET stored; readPatch converts them and drops any
    // value that is not valid (an enum it does not know, a number that does not parse).
    const snapshot: { -readonly [K in keyof BackendSnapshot]: BackendSnapshot[K] } = {
      ...readPatch(wire.f),
      inflight: typeof wire.i === "number" ? wire.i : 0,
    };
    const latency = typeof wire.l === "string" ? parseLatency(wire.l) : undefined;
    if (latency) snapshot.latency = latency;
    backends[name] = snapshot;
  }
  const snapshot = { takenAt: parsed.t, backends };
  return typeof parsed.n === "number" && parsed.n > 0 ? { ...snapshot, live: parsed.n } : snapshot;
}

function parseLatency(stored: string): LatencyEstimate | undefined {
  const [ewma, at] = stored.split(" ");
  const ewmaMs = Number(ewma);
  const updatedAt = Number(at);
  return Number.isFinite(ewmaMs) && Number.isFinite(updatedAt) ? { ewmaMs, updatedAt } : undefined;
}
