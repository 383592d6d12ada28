import { effectiveWeight } from "../balancer/availability.ts";
import { type BackendMetrics, LATENCY_BUCKETS_S } from "../pool/pool-metrics.ts";
import type { PoolRuntime, PoolSpec } from "../pool/pool-runtime.ts";
import type { Route } from "../routing/router.ts";

/** GET /_lb/status: what this instance believes, and how its store is doing. */
export function statusOf(instance: string, pools: readonly PoolRuntime[], routes: readonly Route[]) {
  return {
    instance,
    routes: routes.map(routeOf),
    /** Upper bounds of counters.latency.buckets (the last bucket is above them all). */
    latency_buckets_s: LATENCY_BUCKETS_S,
    pools: pools.map(({ spec, state, rotation, metrics }) => ({
      name: spec.name,
      algorithm: spec.algorithm,
      panic: rotation.current(state.snapshot, Date.now()).panic,
      ...standingOf(spec, rotation.current(state.snapshot, Date.now()).healthy),
      store: { kind: state.storeKind, ...state.stats },
      view_age_ms: state.snapshot.takenAt ? Date.now() - state.snapshot.takenAt : null,
      backends: spec.backends.map((backend) => {
        const shared = state.snapshot.backends[backend.name];
        const latency = state.load.latency(backend.name);
        return {
          name: backend.name,
          url: backend.url,
          // As set at run time (admin API) if it was, else as configured.
          weight: effectiveWeight(backend, shared),
          configured_weight: backend.weight,
          backup: backend.backup,
          health: shared?.health ?? "up",
          admin: shared?.admin ?? "enabled",
          drain_until:
            shared?.admin === "drained" && (shared.drainUntil ?? 0) > Date.now()
              ? new Date(shared.drainUntil!).toISOString()
              : null,
          affinity_requests_last_minute: metrics.affinityServed.get(backend.name)?.total(Date.now()) ?? 0,
          inflight: state.load.inflight(backend.name),
          ejected_until: (shared?.ejectedUntil ?? 0) > Date.now() ? shared!.ejectedUntil! : null,
          ejections: shared?.ejections ?? 0,
          reason: shared?.reason || null,
          latency_ewma_ms: latency ? Math.round(latency.ewmaMs * 100) / 100 : null,
          last_failure: lastFailureOf(metrics.lastFailure.get(backend.name)),
          counters: countersOf(metrics.backend(backend.name)),
        };
      }),
    })),
  };
}

/** A pool against its minimum, as steering sees it. */
function standingOf(spec: PoolSpec, usable: number) {
  return {
    usable_backends: usable,
    minimum_healthy: spec.steering.minimumHealthy,
    healthy: usable > 0 && usable >= spec.steering.minimumHealthy,
    weight: spec.steering.weight,
    latitude: spec.steering.latitude ?? null,
    longitude: spec.steering.longitude ?? null,
  };
}

/** A route as the config wrote it, for an operator reading the status. */
function routeOf({ name, match, stripPrefix, steering }: Route) {
  return {
    name,
    match: match
      ? {
          host: match.host ? (match.host.exact ?? `*${match.host.suffix}`) : null,
          path_prefix: match.pathPrefix ?? null,
          methods: match.methods ? [...match.methods] : null,
          headers: match.headers ? Object.fromEntries(match.headers) : null,
        }
      : null,
    strip_prefix: stripPrefix,
    steering: steering.policy,
    pools: steering.pools,
    fallback_pool: steering.fallback ?? null,
  };
}

/**
 * This instance's counters since it started, for the dashboard's charts: it polls and plots the
 * differences (requests per second, error rate, latency quantiles from the histogram).
 */
function countersOf(metrics: BackendMetrics) {
  const [c1, c2, c3, c4, c5] = metrics.responses;
  return {
    responses: { "1xx": c1, "2xx": c2, "3xx": c3, "4xx": c4, "5xx": c5 },
    attempts: metrics.attempts,
    errors: metrics.errors,
    latency: { buckets: [...metrics.latencyBuckets], sum_s: metrics.latencySumS },
  };
}

/** The detail clients are not given: what the last failed attempt on this instance said. */
function lastFailureOf(failure: { kind: string; reason: string; at: number } | undefined) {
  return failure ? { kind: failure.kind, reason: failure.reason, at: new Date(failure.at).toISOString() } : null;
}
