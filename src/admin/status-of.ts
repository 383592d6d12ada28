import { effectiveWeight } from "../balancer/availability.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";

/** GET /_lb/status: what this instance believes, and how its store is doing. */
export function statusOf(instance: string, pools: readonly PoolRuntime[]) {
  return {
    instance,
    pools: pools.map(({ spec, state, rotation, metrics }) => ({
      name: spec.name,
      algorithm: spec.algorithm,
      panic: rotation.current(state.snapshot, Date.now()).panic,
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
        };
      }),
    })),
  };
}

/** The detail clients are not given: what the last failed attempt on this instance said. */
function lastFailureOf(failure: { kind: string; reason: string; at: number } | undefined) {
  return failure ? { kind: failure.kind, reason: failure.reason, at: new Date(failure.at).toISOString() } : null;
}
