// The measured rows as the results JSON keeps them: each row's load beside the same runtime's
// bare proxy and nginx (ratios, added p99), its store counts and process figures.

import type { ClaimCounts } from "./header-affinity.ts";
import { claimFields } from "./header-affinity.ts";
import type { LoadResult } from "./load.ts";
import type { RowResult } from "./report.ts";
import type { RowSpec } from "./targets.ts";

export interface MeasuredRow {
  readonly row: RowSpec;
  readonly load?: LoadResult;
  readonly trips?: number;
  readonly claims?: ClaimCounts;
  readonly rss?: number;
  readonly cpuUs?: number;
  readonly failed?: string;
}

export function rowResults(measured: readonly MeasuredRow[]): RowResult[] {
  const bareOf = new Map<string, LoadResult>();
  for (const m of measured) if (m.row.kind === "bare" && m.load) bareOf.set(m.row.runtime, m.load);
  const nginx = measured.find((m) => m.row.kind === "nginx")?.load;
  return measured.map(({ row, load, trips, claims, rss, cpuUs, failed }) => {
    const bare = bareOf.get(row.runtime);
    const base = {
      id: row.id,
      runtime: row.runtime,
      what: row.what,
      algorithm: row.algorithm ?? null,
      store: row.store ?? null,
    };
    if (!load) {
      return {
        ...base,
        requests: 0,
        errors: 0,
        durationS: 0,
        rps: 0,
        p50Ms: 0,
        p99Ms: 0,
        p99OverBareMs: null,
        storeRoundTripsPerRequest: null,
        ...claimFields(row, undefined, 0),
        cpuUsPerRequest: null,
        peakRssMiB: null,
        vsBare: null,
        vsNginx: null,
        failed: failed ?? "not measured",
      };
    }
    const balancer = row.kind === "balancer";
    return {
      ...base,
      requests: load.requests,
      errors: load.errors,
      durationS: load.durationS,
      rps: load.rps,
      p50Ms: load.p50Ms,
      p99Ms: load.p99Ms,
      p99OverBareMs: balancer && bare ? load.p99Ms - bare.p99Ms : null,
      storeRoundTripsPerRequest: trips !== undefined ? trips / load.requests : null,
      ...claimFields(row, claims, load.requests),
      cpuUsPerRequest: cpuUs ?? null,
      peakRssMiB: rss ?? null,
      vsBare: balancer && bare ? load.rps / bare.rps : null,
      vsNginx: row.kind !== "direct" && nginx ? load.rps / nginx.rps : null,
    };
  });
}
