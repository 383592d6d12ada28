import type { Config, PoolConfig } from "../config/load-config.ts";
import type { PoolEnvironment, PoolSpec } from "../pool/pool-runtime.ts";

/** The config's one conversion into each pool's own options: nothing below the app reads config. */
export function poolSpecOf(pool: PoolConfig): PoolSpec {
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
    outlier: pool.outlier,
    healthCheck: pool.health_check,
    availability: {
      maxEjectionPercent: pool.outlier.max_ejection_percent,
      panicThresholdPercent: pool.panic_threshold_percent,
      slowStartMs: pool.slow_start_ms,
    },
  };
}

/** The shared-state timing every pool of one balancer uses. */
export function stateOptionsOf(config: Config): PoolEnvironment["state"] {
  return {
    maxBatch: config.sequence_batch,
    syncIntervalMs: config.sync_interval_ms,
    reportGapMs: config.report_gap_ms,
    inflightTtlMs: config.inflight_ttl_ms,
    storeTimeoutMs: config.store_timeout_ms,
  };
}
