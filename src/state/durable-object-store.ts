import { checkCount, checkLock, checkSession, sanitizePatch } from "./patch.ts";
import type { BackendPatch, HealthWatch, InstanceReport, PoolSnapshot, StateStore } from "./types.ts";

/**
 * What the adapter needs from one pool's Durable Object stub: the RPC methods of
 * PoolStateObject (src/runtime/cloudflare/pool-state-object.ts). Structural, so this file
 * (imported by every runtime through src/runtime/create-store.ts) never imports "cloudflare:workers".
 */
export interface PoolObjectStub {
  reserve(count: number): Promise<number>;
  sync(report: InstanceReport | undefined): Promise<PoolSnapshot>;
  setBackend(backend: string, patch: BackendPatch): Promise<void>;
  tryLock(name: string, ttlMs: number): Promise<boolean>;
  claimSession(key: string, backend: string, ttlMs: number, replacing?: string): Promise<string>;
  watchHealth(watch: HealthWatch): Promise<void>;
}

/**
 * What the adapter needs from the Durable Object namespace binding (env.LB_STATE). A real
 * `DurableObjectNamespace<PoolStateObject>` satisfies it (checked in pool-state-object.ts).
 */
export interface PoolObjectNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): PoolObjectStub;
}

/**
 * Shared state in one Durable Object per pool: every operation is one RPC call, made atomic by
 * the object's single thread.
 *
 * The object id is cached per pool; the stub is not. On Workers a stub is an I/O object bound
 * to the request that made it: reusing it from a later request throws "Cannot perform I/O on
 * behalf of a different request" (seen in workerd under miniflare). `get(id)` only builds the
 * client locally (nothing is sent until a method is called), so a fresh stub per call costs
 * nothing, and it also follows the runtime's rule that a stub which threw must be replaced.
 */
export class DurableObjectStore implements StateStore {
  readonly kind = "durable-object" as const;
  readonly #ids = new Map<string, unknown>();

  constructor(private readonly namespace: PoolObjectNamespace) {}

  /** Checked here too (the object checks again), so a bad count fails before any round trip. */
  async reserve(pool: string, count: number): Promise<number> {
    const checked = checkCount(count);
    return this.#stub(pool).reserve(checked);
  }

  async sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    return this.#stub(pool).sync(report);
  }

  /**
   * Validated here too (the object checks again): a bad patch fails with its TypeError before
   * any round trip, and only the fields PATCH_FIELDS names cross the RPC boundary.
   */
  async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    const clean = sanitizePatch(patch);
    return this.#stub(pool).setBackend(backend, clean);
  }

  /**
   * One RPC; the placement lives in the object's SQLite storage (PoolStateObject.claimSession).
   * Checked here first so bad arguments fail with their own error before any round trip.
   */
  async claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    const ttl = checkSession(key, backend, ttlMs, replacing);
    return this.#stub(pool).claimSession(key, backend, ttl, replacing);
  }

  /** Taken in the pool's object (see PoolStateObject.tryLock for why memory is enough). */
  async tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    const ttl = checkLock(name, ttlMs);
    return this.#stub(pool).tryLock(name, ttl);
  }

  /** The pool's object probes on its alarm between requests (sub-minute, unlike Cron Triggers). */
  async watchHealth(pool: string, watch: HealthWatch): Promise<void> {
    return this.#stub(pool).watchHealth(watch);
  }

  #stub(pool: string): PoolObjectStub {
    let id = this.#ids.get(pool);
    if (id === undefined) {
      id = this.namespace.idFromName(pool);
      this.#ids.set(pool, id);
    }
    return this.namespace.get(id);
  }
}
