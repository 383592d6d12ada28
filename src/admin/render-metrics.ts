import { effectiveWeight } from "../balancer/availability.ts";
import { type BackendMetrics, LATENCY_BUCKETS_S } from "../pool/pool-metrics.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Backend } from "../shared/backend.ts";

const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

type Labels = Record<string, string>;

/**
 * GET /_lb/metrics: Prometheus text exposition format 0.0.4. Names follow Prometheus' conventions:
 * the edge_lb_ prefix, _total on counters, seconds as the unit of time.
 */
export function renderMetrics(pools: readonly PoolRuntime[], now = Date.now()): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: Array<[Labels, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}{${formatLabels(labels)}} ${value}`);
  };
  const eachBackend = <T>(pick: (p: PoolRuntime, backend: Backend) => T[]) =>
    pools.flatMap((p) => p.spec.backends.flatMap((b) => pick(p, b)));
  family(
    "edge_lb_responses_total",
    "counter",
    "Responses passed to clients, by backend and status class.",
    eachBackend((p, b) => {
      const counts = p.metrics.backend(b.name).responses;
      return STATUS_CLASSES.map((code, i): [Labels, number] => [
        { pool: p.spec.name, backend: b.name, code },
        counts[i]!,
      ]);
    }),
  );
  family(
    "edge_lb_backend_attempts_total",
    "counter",
    "Attempts sent to the backend: first tries and retries.",
    eachBackend(
      (p, b): Array<[Labels, number]> => [[{ pool: p.spec.name, backend: b.name }, p.metrics.backend(b.name).attempts]],
    ),
  );
  histogram(
    out,
    "edge_lb_backend_response_seconds",
    "Time from sending a request to the backend's response headers, for responses passed to clients.",
    pools.flatMap((p) =>
      p.spec.backends.map((b) => ({
        labels: { pool: p.spec.name, backend: b.name },
        metrics: p.metrics.backend(b.name),
      })),
    ),
  );
  family(
    "edge_lb_backend_ejections_total",
    "counter",
    "Times this instance's passive health ejected the backend.",
    eachBackend(
      (p, b): Array<[Labels, number]> => [
        [{ pool: p.spec.name, backend: b.name }, p.passive.ejections.get(b.name) ?? 0],
      ],
    ),
  );
  family(
    "edge_lb_attempt_failures_total",
    "counter",
    "Attempts that failed, by backend and kind (unreachable, failed, timeout, status).",
    pools.flatMap((p) =>
      split(p.metrics.failures).map(
        ([backend, kind, n]) => [{ pool: p.spec.name, backend, kind }, n] as [Labels, number],
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
      p.spec.backends.map((b) => [{ pool: p.spec.name, backend: b.name }, pick(p, b.name, b)] as [Labels, number]),
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

/** A histogram family: cumulative _bucket series ending in +Inf, then _sum and _count. */
function histogram(
  out: string[],
  name: string,
  help: string,
  series: ReadonlyArray<{ labels: Labels; metrics: BackendMetrics }>,
): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  for (const { labels, metrics } of series) {
    const base = formatLabels(labels);
    let cumulative = 0;
    LATENCY_BUCKETS_S.forEach((le, i) => {
      cumulative += metrics.latencyBuckets[i]!;
      out.push(`${name}_bucket{${base},le="${le}"} ${cumulative}`);
    });
    cumulative += metrics.latencyBuckets[LATENCY_BUCKETS_S.length]!;
    out.push(`${name}_bucket{${base},le="+Inf"} ${cumulative}`);
    out.push(`${name}_sum{${base}} ${metrics.latencySumS}`, `${name}_count{${base}} ${cumulative}`);
  }
}

function split(map: ReadonlyMap<string, number>): Array<[string, string, number]> {
  return [...map].map(([key, n]) => {
    const [a, b] = key.split("\u0000") as [string, string];
    return [a, b, n];
  });
}

export function formatLabels(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`)
    .join(",");
}
