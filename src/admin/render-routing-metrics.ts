import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Route } from "../routing/router.ts";
import { formatLabels } from "./render-metrics.ts";

/** What the admin surface reads of routing: the routes, and where this instance steered requests. */
export interface RoutingView {
  readonly routes: readonly Route[];
  /** route \u0000 pool \u0000 how ("preferred", "failover", "weighted", "fallback", "last-resort") -> requests */
  readonly steered: ReadonlyMap<string, number>;
}

/** The pools' standing against their minimum and the steering counters, in Prometheus text. */
export function renderRoutingMetrics(pools: readonly PoolRuntime[], routing: RoutingView, now = Date.now()): string {
  const usable = pools.map((p) => [p, p.rotation.current(p.state.snapshot, now).healthy] as const);
  const lines = [
    "# HELP edge_lb_pool_usable_backends Backends of the pool that take new requests now.",
    "# TYPE edge_lb_pool_usable_backends gauge",
    ...usable.map(([p, n]) => `edge_lb_pool_usable_backends{${formatLabels({ pool: p.spec.name })}} ${n}`),
    "# HELP edge_lb_pool_healthy 1 while the pool has at least minimum_healthy usable backends.",
    "# TYPE edge_lb_pool_healthy gauge",
    ...usable.map(
      ([p, n]) =>
        `edge_lb_pool_healthy{${formatLabels({ pool: p.spec.name })}} ${n > 0 && n >= p.spec.steering.minimumHealthy ? 1 : 0}`,
    ),
    "# HELP edge_lb_steered_requests_total Requests each route sent to each pool, by how steering chose it.",
    "# TYPE edge_lb_steered_requests_total counter",
    ...[...routing.steered].map(([key, n]) => {
      const [route, pool, by] = key.split("\u0000") as [string, string, string];
      return `edge_lb_steered_requests_total{${formatLabels({ route, pool, by })}} ${n}`;
    }),
  ];
  return `${lines.join("\n")}\n`;
}
