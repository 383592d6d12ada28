import { effectiveWeight } from "../balancer/availability.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Backend } from "../shared/backend.ts";

/** GET /_lb/metrics: Prometheus text exposition format 0.0.4. */
export function renderMetrics(pools: readonly PoolRuntime[], now = Date.now()): string {
  const out: string[] = [];
  const family = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: Array<[Record<string, string>, number]>,
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}{${formatLabels(labels)}} ${value}`);
  };
  family(
    "edge_lb_responses_total",
    "counter",
    "Responses passed to clients, by backend and status class.",
    pools.flatMap((p) =>
      split(p.metrics.responses).map(
        ([backend, code, n]) => [{ pool: p.spec.name, backend, code }, n] as [Record<string, string>, number],
      ),
    ),
  );
  family(
    "edge_lb_attempt_failures_total",
    "counter",
    "Attempts that failed, by backend and kind (unreachable, failed, timeout, status).",
    pools.flatMap((p) =>
      split(p.metrics.failures).map(
        ([backend, kind, n]) => [{ pool: p.spec.name, backend, kind }, n] as [Record<string, string>, number],
      ),
    ),
  );
  family(
    "edge_lb_retries_total",
    "counter",
    "Attempts made after a failed one.",
    pools.map((p) => [{ pool: p.spec.name }, p.metrics.retries]),
  );
  family(
    "edge_lb_no_backend_total",
    "counter",
    "Requests answered 503 because no backend was usable.",
    pools.map((p) => [{ pool: p.spec.name }, p.metrics.noBackend]),
  );
  const perBackend = (pick: (p: PoolRuntime, name: string, backend: Backend) => number) =>
    pools.flatMap((p) =>
      p.spec.backends.map(
        (b) => [{ pool: p.spec.name, backend: b.name }, pick(p, b.name, b)] as [Record<string, string>, number],
      ),
    );
  const record = (p: PoolRuntime, name: string) => p.state.snapshot.backends[name];
  family(
    "edge_lb_backend_healthy",
    "gauge",
    "1 unless active checks marked the backend down.",
    perBackend((p, n) => (record(p, n)?.health === "down" ? 0 : 1)),
  );
  family(
    "edge_lb_backend_ejected",
    "gauge",
    "1 while passive health has ejected the backend.",
    perBackend((p, n) => ((record(p, n)?.ejectedUntil ?? 0) > now ? 1 : 0)),
  );
  family(
    "edge_lb_backend_admin_enabled",
    "gauge",
    "1 unless drained or disabled by the admin API.",
    perBackend((p, n) => ((record(p, n)?.admin ?? "enabled") === "enabled" ? 1 : 0)),
  );
  family(
    "edge_lb_backend_weight",
    "gauge",
    "Weight in use: as set through the admin API, else as configured.",
    perBackend((p, n, b) => effectiveWeight(b, record(p, n))),
  );
  family(
    "edge_lb_backend_configured_weight",
    "gauge",
    "Weight as configured (BACKENDS or the config file).",
    perBackend((_p, _n, b) => b.weight),
  );
  family(
    "edge_lb_backend_inflight",
    "gauge",
    "In-flight requests across instances (shared view plus this instance).",
    perBackend((p, n) => p.state.load.inflight(n)),
  );
  family(
    "edge_lb_backend_latency_ewma_seconds",
    "gauge",
    "Peak-EWMA response time (time to headers).",
    perBackend((p, n) => (p.state.load.latency(n)?.ewmaMs ?? 0) / 1000),
  );
  family(
    "edge_lb_store_round_trips_total",
    "counter",
    "Calls to the shared state store.",
    pools.map((p) => [{ pool: p.spec.name, store: p.state.storeKind }, p.state.stats.roundTrips]),
  );
  family(
    "edge_lb_store_errors_total",
    "counter",
    "Store calls that failed or timed out.",
    pools.map((p) => [{ pool: p.spec.name, store: p.state.storeKind }, p.state.stats.errors]),
  );
  family(
    "edge_lb_store_degraded",
    "gauge",
    "1 while the store is unreachable and the instance serves from its last view.",
    pools.map((p) => [{ pool: p.spec.name, store: p.state.storeKind }, p.state.stats.degraded ? 1 : 0]),
  );
  return `${out.join("\n")}\n`;
}

function split(map: ReadonlyMap<string, number>): Array<[string, string, number]> {
  return [...map].map(([key, n]) => {
    const [a, b] = key.split("\u0000") as [string, string];
    return [a, b, n];
  });
}

export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`)
    .join(",");
}
