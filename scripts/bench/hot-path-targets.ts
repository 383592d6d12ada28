// The hot path's targets (issue 14), per runtime, from the rows of one run: throughput against
// the same runtime's bare proxy, CPU and p99 added over it, and the pick cost's growth. Ratios
// within one run, never absolute numbers, since every process shares the machine's cores.
import { fmt } from "./cells.ts";
import { growthOf, type PickResult } from "./picks.ts";
import type { RowResult, TargetCheck } from "./report.ts";

/** Least req/s as a share of the bare proxy's: by algorithm and store. */
const THROUGHPUT: ReadonlyArray<{ algorithm: string; store: string; min: number }> = [
  { algorithm: "round-robin", store: "memory", min: 0.85 },
  { algorithm: "round-robin", store: "upstash", min: 0.8 },
  { algorithm: "round-robin", store: "durable-object", min: 0.8 },
  { algorithm: "least-connections", store: "memory", min: 0.75 },
];
/** Most CPU µs per request over the bare proxy (round robin on memory). */
const CPU_OVER_BARE_US: Readonly<Record<string, number>> = { workerd: 25, bun: 25, deno: 25, node: 50 };
/** Most p99 ms over the bare proxy (round robin on memory); workerd's own p99 swings too much to judge. */
const P99_OVER_BARE_MS: Readonly<Record<string, number>> = { bun: 2, deno: 2, node: 4 };

/** A plain row of `algorithm` on `store`: not a routes, JSON-log or header-affinity variant. */
const plainRow = (rows: readonly RowResult[], runtime: string, algorithm: string, store: string) =>
  rows.find(
    (r) =>
      r.runtime === runtime &&
      r.algorithm === algorithm &&
      r.store === store &&
      !r.failed &&
      /^[a-z]+-[a-z]+-[a-z]+$/.test(r.id) &&
      r.sessions === null,
  );

export function hotPathTargets(rows: readonly RowResult[], picks: readonly PickResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const runtimes = [...new Set(rows.map((r) => r.runtime))];
  for (const { algorithm, store, min } of THROUGHPUT) {
    for (const runtime of runtimes) {
      const row = plainRow(rows, runtime, algorithm, store);
      if (row?.vsBare == null) continue;
      checks.push({
        target: `${runtime}: ${algorithm} on ${store} ≥ ${min.toFixed(2)} × the bare proxy's req/s`,
        value: `${row.vsBare.toFixed(2)} × (${row.id})`,
        met: row.vsBare >= min,
      });
    }
  }
  for (const runtime of runtimes) {
    const row = plainRow(rows, runtime, "round-robin", "memory");
    const bare = rows.find((r) => r.id === `${runtime}-bare` && !r.failed);
    const cpuLimit = CPU_OVER_BARE_US[runtime];
    if (row && bare && cpuLimit !== undefined && row.cpuUsPerRequest !== null && bare.cpuUsPerRequest !== null) {
      const added = row.cpuUsPerRequest - bare.cpuUsPerRequest;
      checks.push({
        target: `${runtime}: CPU added over the bare proxy ≤ ${cpuLimit} µs per request (round robin, memory)`,
        value: `${added >= 0 ? "+" : ""}${added.toFixed(0)} µs (${bare.cpuUsPerRequest.toFixed(0)} → ${row.cpuUsPerRequest.toFixed(0)})`,
        met: added <= cpuLimit,
      });
    }
    const p99Limit = P99_OVER_BARE_MS[runtime];
    if (row && p99Limit !== undefined && row.p99OverBareMs !== null) {
      checks.push({
        target: `${runtime}: p99 added over the bare proxy ≤ ${p99Limit} ms (round robin, memory)`,
        value: `${fmt.signedMs(row.p99OverBareMs)} ms`,
        met: row.p99OverBareMs <= p99Limit,
      });
    }
  }
  for (const algorithm of new Set(picks.map((p) => p.algorithm))) {
    const { slowdown } = growthOf(picks, algorithm);
    checks.push({
      target: `pick cost 3 → 300 backends ≤ 2×: ${algorithm}`,
      value: `${slowdown.toFixed(2)}×`,
      met: slowdown <= 2,
    });
  }
  return checks;
}
