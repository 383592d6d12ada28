import { type AffinityConfig, DEFAULT_COOKIE_TTL_S, DEFAULT_HEADER_TTL_S } from "../config/affinity-schema.ts";
import type { Config, PoolConfig } from "../config/load-config.ts";
import type { HealthCheckConfig } from "../config/schema.ts";
import type { OutlierPolicy } from "../health/outlier.ts";
import type { AffinitySpec, PoolEnvironment, PoolSpec } from "../pool/pool-runtime.ts";
import type { ProbeSpec } from "../shared/probe-spec.ts";

/** The config's one conversion into each pool's own options: nothing below the app reads config. */
export function poolSpecOf(pool: PoolConfig, reportsLoad = false): PoolSpec {
  return {
    name: pool.name,
    algorithm: pool.algorithm,
    backends: pool.backends,
    hashKey: pool.hash_key,
    timeoutMs: pool.timeout_ms,
    preserveHost: pool.preserve_host,
    retry: {
      maxAttempts: pool.retry.max_attempts,
      maxReplayBytes: pool.retry.max_body_bytes,
      budgetRatio: pool.retry.budget_percent / 100,
      budgetReserve: pool.retry.budget_reserve,
    },
    outlier: outlierPolicyOf(pool),
    healthCheck: pool.health_check ? probeSpecOf(pool.health_check) : undefined,
    availability: {
      maxEjectionPercent: pool.outlier.max_ejection_percent,
      panicThresholdPercent: pool.panic_threshold_percent,
      slowStartMs: pool.slow_start_ms,
    },
    affinity: affinitySpecOf(pool.affinity),
    steering: {
      minimumHealthy: pool.minimum_healthy,
      weight: pool.weight,
      latitude: pool.latitude,
      longitude: pool.longitude,
      reportsLoad,
    },
  };
}

function affinitySpecOf(affinity: AffinityConfig): AffinitySpec | undefined {
  if (affinity.mode === "none") return undefined;
  return {
    mode: affinity.mode,
    cookieName: affinity.cookie_name,
    ttlS: affinity.ttl_s ?? (affinity.mode === "header" ? DEFAULT_HEADER_TTL_S : DEFAULT_COOKIE_TTL_S),
    headers: affinity.headers,
    requireAllHeaders: affinity.require_all_headers,
    failover: affinity.zero_downtime_failover,
    cookieSecure: affinity.cookie_secure,
  };
}

function outlierPolicyOf(pool: PoolConfig): OutlierPolicy {
  const { outlier } = pool;
  return {
    consecutiveFailures: outlier.consecutive_failures,
    baseEjectionMs: outlier.base_ejection_ms,
    maxEjectionMs: outlier.max_ejection_ms,
    failureOn5xx: outlier.failure_on_5xx,
  };
}

function probeSpecOf(check: HealthCheckConfig): ProbeSpec {
  return {
    path: check.path,
    method: check.method,
    expectedStatus: check.expected_status,
    ...(check.body_contains === undefined ? {} : { bodyContains: check.body_contains }),
    headers: check.headers,
    timeoutMs: check.timeout_ms,
    intervalMs: check.interval_ms,
    rise: check.rise,
    fall: check.fall,
  };
}

/** The shared-state timing every pool of one balancer uses. */
export function stateOptionsOf(config: Config): PoolEnvironment["state"] {
  return {
    maxBatch: config.sequence_batch,
    syncIntervalMs: config.sync_interval_ms,
    syncBudget: config.sync_budget,
    reportGapMs: config.report_gap_ms,
    inflightTtlMs: config.inflight_ttl_ms,
    storeTimeoutMs: config.store_timeout_ms,
  };
}
