import type { AvailabilityPolicy } from "../balancer/availability.ts";
import { type Algorithm, algorithmNamed } from "../balancer/registry.ts";
import { RotationCache } from "../balancer/rotation.ts";
import { HealthChecker } from "../health/health-checker.ts";
import { PassiveHealth } from "../health/passive-health.ts";
import type { Backend } from "../shared/backend.ts";
import type { Log } from "../shared/log.ts";
import type { UpstreamFetch } from "../shared/upstream-fetch.ts";
import { PoolState, type PoolStateOptions } from "../state/pool-state.ts";
import type { StateStore } from "../state/types.ts";
import { PoolMetrics } from "./pool-metrics.ts";
import { RetryBudget } from "./retry-budget.ts";

/**
 * One pool of backends at run time, as Pingora's LoadBalancer pairs selection, health and
 * discovery for one upstream group: its shared state, its rotation, its health, its retry budget
 * and its counters. The proxy forwards through it and the admin API reads it; both import it from
 * here, neither from the other.
 */

/** Session affinity as the proxy applies it (Cloudflare Load Balancing's modes and failover). */
export interface AffinitySpec {
  readonly mode: "cookie" | "ip_cookie" | "header";
  readonly cookieName: string;
  /** Cookie lifetime, or a header session's idle time. */
  readonly ttlS: number;
  readonly headers: readonly string[];
  readonly requireAllHeaders: boolean;
  readonly failover: "temporary" | "sticky" | "none";
  readonly cookieSecure: boolean;
}

/** Where the ip-hash key comes from. */
export type HashKey = { readonly source: "ip" } | { readonly source: "header" | "cookie"; readonly name: string };

/** One pool's options, converted once from the config (src/app/pool-spec.ts). */
export interface PoolSpec {
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly backends: readonly Backend[];
  readonly hashKey: HashKey;
  /** Per try, until the upstream's response headers. */
  readonly timeoutMs: number;
  readonly preserveHost: boolean;
  readonly retry: {
    readonly maxAttempts: number;
    /** Largest body kept for replay on another backend. */
    readonly maxReplayBytes: number;
    /** Each success earns this share of a retry (0.2 = 20%). */
    readonly budgetRatio: number;
    readonly budgetReserve: number;
  };
  readonly outlier: ConstructorParameters<typeof PassiveHealth>[0];
  /** Active checks; undefined: none (passive ejection still applies). */
  readonly healthCheck: ConstructorParameters<typeof HealthChecker>[0] | undefined;
  readonly availability: AvailabilityPolicy;
  /** Undefined: no session affinity. */
  readonly affinity: AffinitySpec | undefined;
  /** How routes' steering weighs the pool. */
  readonly steering: PoolSteeringSpec;
}

export interface PoolSteeringSpec {
  /** Below this many usable backends, steering passes the pool over. */
  readonly minimumHealthy: number;
  /** Share under random and least-outstanding steering. */
  readonly weight: number;
  readonly latitude: number | undefined;
  readonly longitude: number | undefined;
  /** A least-outstanding route reads the pool's in-flight total: report it as promptly as load-aware algorithms do. */
  readonly reportsLoad: boolean;
}

/** What every pool of one balancer shares: the store, this instance's name, the log. */
export interface PoolEnvironment {
  readonly store: StateStore;
  readonly instance: string;
  readonly state: Omit<PoolStateOptions, "pool" | "instance" | "loadAware" | "log" | "clock" | "timers">;
  readonly log: Log;
  /** Log "Forwarding request to: <url>" per attempt (the text format with request logging on). */
  readonly logRequests: boolean;
  /** Replaces the global fetch for upstream calls and probes. */
  readonly fetch: UpstreamFetch | undefined;
}

export interface PoolRuntime {
  readonly spec: PoolSpec;
  readonly rotation: RotationCache;
  /** ip_cookie affinity: the ip-hash rotation that places a new session (same backends). */
  readonly ipRotation: RotationCache | undefined;
  readonly state: PoolState;
  readonly budget: RetryBudget;
  readonly passive: PassiveHealth;
  readonly checker: HealthChecker | undefined;
  readonly metrics: PoolMetrics;
  /** Receives "Forwarding request to: <url>"; undefined when request logging is off. */
  readonly logRequest: ((line: string) => void) | undefined;
  /**
   * Failed attempts in full (backend URL, system error): the log has what clients are not told.
   * Events come out with the pool's name.
   */
  readonly log: Log;
  readonly fetch: UpstreamFetch | undefined;
}

export function createPoolRuntime(spec: PoolSpec, env: PoolEnvironment): PoolRuntime {
  const algorithm = algorithmNamed(spec.algorithm);
  const log: Log = (line, event) => env.log(line, event && { ...event, pool: spec.name });
  const state = new PoolState(env.store, {
    ...env.state,
    pool: spec.name,
    instance: env.instance,
    // Algorithms that read in-flight counts and latency get them reported quickly.
    loadAware: algorithm.needs === "load" || spec.steering.reportsLoad,
    log,
  });
  const probeFetch = env.fetch ?? ((input, init) => fetch(input, init));
  return {
    spec,
    state,
    rotation: new RotationCache(algorithm, spec.backends, spec.availability),
    ipRotation:
      spec.affinity?.mode === "ip_cookie"
        ? new RotationCache(algorithmNamed("ip-hash"), spec.backends, spec.availability)
        : undefined,
    budget: new RetryBudget(spec.retry.budgetRatio, spec.retry.budgetReserve),
    passive: new PassiveHealth(spec.outlier, state, log),
    checker: spec.healthCheck ? new HealthChecker(spec.healthCheck, spec.backends, state, log, probeFetch) : undefined,
    metrics: new PoolMetrics(),
    logRequest: env.logRequests ? env.log : undefined,
    log,
    fetch: env.fetch,
  };
}
