import type { Backend, LatencyEstimate } from "../shared/backend.ts";
import type { LatencySummary } from "../shared/latency.ts";
import type { ProbeSpec } from "../shared/probe-spec.ts";

export type { LatencySummary } from "../shared/latency.ts";

/** What a store needs to run a pool's active checks on its own. */
export interface HealthWatch {
  readonly backends: readonly Backend[];
  readonly check: ProbeSpec;
}

/** Pool names become part of store keys, so they keep to this alphabet (config checks it too). */
export const POOL_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The shared-state contract. Every method is one atomic operation in the store (a Lua script or
 * MULTI on Redis, the object's single thread on a Durable Object) and one round trip. Workers KV
 * has no atomic operation at all: its adapter says what it keeps per instance instead, and its
 * claimSession is a read plus, when needed, a write (two instances racing may disagree for about
 * a minute).
 */
export interface StateStore {
  readonly kind: StateKind;
  /**
   * Atomically adds `count` to the pool's sequence and returns the first of the `count`
   * positions that now belong to the caller alone.
   */
  reserve(pool: string, count: number): Promise<number>;
  /**
   * Publishes this instance's report (if any) and returns the pool's shared view, in one round
   * trip. In-flight counts in the report are absolute and expire with `ttlMs`, so an instance
   * that dies cannot leave a backend looking busy. A report naming `liveMs` counts its instance
   * in the view's `live` for that long.
   */
  sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot>;
  /** Merges `patch` into one backend's shared record (health checks, ejection, admin API). */
  setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void>;
  /**
   * Takes the named lock for `ttlMs` if nobody holds it (SET NX PX): true when this caller got
   * it. Lets one instance among many run a pool's health checks per interval.
   */
  tryLock(pool: string, name: string, ttlMs: number): Promise<boolean>;
  /**
   * Session placement for header affinity, in one atomic step: the backend `key` is already
   * placed on (its idle expiry renewed to `ttlMs` from now), or, when it has none (or it
   * expired), `backend`, stored with that expiry. Two instances placing one new session at once
   * get the same answer: the first placement wins. With `replacing`, a placement on exactly that
   * backend is replaced by `backend` too (a session moved off an unusable backend), while one
   * another instance has already moved elsewhere is kept and returned.
   */
  claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string>;
  /**
   * Stores that can run a pool's active checks themselves, between requests, take them over
   * here (the Durable Object's alarm). Others leave it undefined.
   */
  watchHealth?(pool: string, watch: HealthWatch): Promise<void>;
  close?(): Promise<void>;
}

export const STATE_KINDS = ["memory", "durable-object", "upstash", "kv", "deno-kv"] as const;
export type StateKind = (typeof STATE_KINDS)[number];

export type Health = "up" | "down";
export type AdminState = "enabled" | "drained" | "disabled";

/** One backend's shared record; a patch sets only the fields it names. */
export interface BackendPatch {
  readonly health?: Health;
  readonly admin?: AdminState;
  /** Consecutive active-check results against the current health (rise/fall hysteresis). */
  readonly streak?: number;
  /** Why the backend last went down or was ejected, for logs and /_lb/status. */
  readonly reason?: string;
  /** Epoch ms it last came back (check passed rise times, or ejection ended): slow start's origin. */
  readonly since?: number;
  /** Passive ejection: skipped until this epoch ms. */
  readonly ejectedUntil?: number;
  /** Times ejected since it last served successfully: scales the next ejection. */
  readonly ejections?: number;
  /**
   * The weight set at run time (admin API, 0-1000), replacing the configured one on every
   * instance; 0 takes no new sessions but keeps existing ones.
   */
  readonly weight?: number;
  /**
   * With admin "drained": epoch ms until which requests of existing affinity sessions still
   * reach the backend (a drain with a duration); absent or past, it takes nothing.
   */
  readonly drainUntil?: number;
}

export const PATCH_FIELDS = [
  "health",
  "admin",
  "streak",
  "reason",
  "since",
  "ejectedUntil",
  "ejections",
  "weight",
  "drainUntil",
] as const;

export interface InstanceReport {
  readonly instance: string;
  /** This instance's in-flight requests per backend right now (absolute, idempotent). */
  readonly inflight: Readonly<Record<string, number>>;
  /** Latency observed since the previous report, per backend. */
  readonly latency: Readonly<Record<string, LatencySummary>>;
  /** How long the in-flight figures stay valid without a newer report. */
  readonly ttlMs: number;
  /**
   * How long the store counts this instance as live (PoolSnapshot.live) without a newer report;
   * absent: the report does not ask to be counted (SYNC_BUDGET off).
   */
  readonly liveMs?: number;
}

export interface BackendSnapshot extends BackendPatch {
  /** Sum of live instances' reported in-flight counts. */
  readonly inflight: number;
  readonly latency?: LatencyEstimate;
}

export interface PoolSnapshot {
  /** Epoch ms at the store when the snapshot was taken. */
  readonly takenAt: number;
  readonly backends: Readonly<Record<string, BackendSnapshot>>;
  /**
   * Instances counted live (reports that named liveMs, within it), this one included; absent
   * when none is. Instances spread their syncs by it to keep the pool's store load in budget.
   */
  readonly live?: number;
}
