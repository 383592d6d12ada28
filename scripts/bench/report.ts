// The bench's results: one JSON document and the Markdown made from it (tables for the rows, the
// WebSocket echo rows and the pick costs, the targets, notes); cells.ts reads the tables back
// (the test checks that the two agree).

import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { ALGORITHM_NAMES } from "../../src/balancer/registry.ts";
import { type BundleSize, bundleMarkdown } from "./bundle-size.ts";
import { DASH, fmt, table } from "./cells.ts";
import { type ColdStart, coldStartMarkdown } from "./cold-start.ts";
import { type FeatureInstructions, featureInstructionMarkdown } from "./feature-instructions.ts";
import { CLAIMS_NOTE, headerAffinityTargets, isHeaderAffinity } from "./header-affinity.ts";
import { hotPathTargets } from "./hot-path-targets.ts";
import type { LoadResult } from "./load.ts";
import { pairMarkdown, type RowPair } from "./paired-rows.ts";
import type { PickResult } from "./picks.ts";
import { growthOf, PICK_SIZES } from "./picks.ts";
import { profileMarkdown, type RuntimeProfile } from "./profile.ts";
import type { RoutingCost } from "./routing-cost.ts";
import {
  GLOBAL_FETCH_SUFFIX,
  isGlobalFetchRow,
  isJsonLogRow,
  isTextLogRow,
  JSON_LOG_SUFFIX,
  TEXT_LOG_SUFFIX,
} from "./targets.ts";
import { type WebSocketLoad, type WebSocketRowResult, webSocketMarkdown } from "./websocket-report.ts";

export { fmt, parseCell, parseTable } from "./cells.ts";

/** One row: what ran, the load generator's measurement of the warmed-up window, and more. */
export interface RowResult extends LoadResult {
  readonly id: string;
  readonly runtime: string;
  readonly what: string;
  readonly algorithm: string | null;
  readonly store: string | null;
  /** p99 of this row minus p99 of the bare proxy in the same runtime (edge-lb rows). */
  readonly p99OverBareMs: number | null;
  /** Store round trips during the measured window ÷ requests (edge-lb rows). */
  readonly storeRoundTripsPerRequest: number | null;
  /** Of those, header-affinity session claims ÷ requests (edge-lb rows; 0 without header affinity). */
  readonly sessionClaimsPerRequest: number | null;
  /** Session claims since the server started, warm-up included (edge-lb rows). */
  readonly sessionClaimsSinceStart: number | null;
  /** Header-affinity rows: the distinct session header values the load drew from; else null. */
  readonly sessions: number | null;
  /** CPU time (user + system) of the server's process tree during the measured window ÷ requests, µs. */
  readonly cpuUsPerRequest: number | null;
  /** Peak RSS (VmHWM) of the server's process tree, MiB; null for the direct row. */
  readonly peakRssMiB: number | null;
  /** req/s ÷ req/s of the bare proxy in the same runtime (edge-lb rows). */
  readonly vsBare: number | null;
  /** req/s ÷ req/s of nginx (every proxy row, when nginx ran). */
  readonly vsNginx: number | null;
  /** Set when the row could not be measured; the numbers are then 0. */
  readonly failed?: string;
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly versions: Record<string, string>;
}

export interface TargetCheck {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export interface BenchResults {
  readonly version: 1;
  readonly mode: "full" | "quick" | "tiny";
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly load: {
    readonly tool: string;
    readonly connections: number;
    /** Per row: either a duration (s) or a request count. */
    readonly durationS: number | null;
    readonly requests: number | null;
    readonly warmup: string;
    readonly upstreams: string;
  };
  /**
   * CPU used on this machine by processes other than the bench's own during the run, in % of
   * all cores (other tests, builds): above a few percent, req/s and latencies are disturbed.
   */
  readonly otherCpuPercent: number;
  readonly rows: readonly RowResult[];
  /** How the WebSocket rows were loaded (absent when none ran). */
  readonly webSocketLoad?: WebSocketLoad;
  /** WebSocket echo through the balancer beside direct, per runtime. */
  readonly webSockets: readonly WebSocketRowResult[];
  readonly picks: readonly PickResult[];
  /** CPU µs per request of routing alone (scripts/bench/routing-cost.ts); absent with --no-picks. */
  readonly routing?: RoutingCost;
  /** Routing's and request logging's cost per runtime, the two servers in turns (paired-rows.ts). */
  readonly pairs?: readonly RowPair[];
  /** Routing's and the JSON log's cost in instructions under callgrind (Node, workerd), with the base server's µs/req. */
  readonly featureInstructions?: readonly (FeatureInstructions & { readonly baseUs: number | null })[];
  /** Start to first response, bare proxy and balancer per runtime (absent with --rows). */
  readonly coldStarts?: readonly ColdStart[];
  /** The minified Worker bundle (absent if it could not be built). */
  readonly bundle?: BundleSize;
  /** Each runtime's hottest functions (absent with --no-profile and in tiny runs). */
  readonly profiles?: readonly RuntimeProfile[];
  readonly targets: readonly TargetCheck[];
  readonly notes: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Machine

export function machineInfo(versions: Record<string, string>): Machine {
  let cpu = cpus()[0]?.model?.trim() ?? "unknown";
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match) cpu = match[1]!.trim();
  } catch {
    // not Linux
  }
  return {
    cpu,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    versions,
  };
}

export const ROW_COLUMNS = [
  "row",
  "runtime",
  "what",
  "store",
  "req/s",
  "p50 ms",
  "p99 ms",
  "p99 over bare ms",
  "store trips/req",
  "claims/req",
  "CPU µs/req",
  "peak RSS MiB",
  "÷ bare",
  "÷ nginx",
] as const;

export function rowCells(row: RowResult): string[] {
  if (row.failed) {
    return [
      row.id,
      row.runtime,
      row.what,
      row.store ?? DASH,
      `failed: ${row.failed.replace(/\|/g, "/").split("\n")[0]!.slice(0, 120)}`,
      DASH,
      DASH,
      DASH,
      DASH,
      DASH,
      DASH,
      DASH,
      DASH,
      DASH,
    ];
  }
  return [
    row.id,
    row.runtime,
    row.what,
    row.store ?? DASH,
    fmt.int(row.rps),
    fmt.ms(row.p50Ms),
    fmt.ms(row.p99Ms),
    fmt.signedMs(row.p99OverBareMs),
    fmt.trips(row.storeRoundTripsPerRequest),
    fmt.trips(row.sessionClaimsPerRequest),
    fmt.us(row.cpuUsPerRequest),
    fmt.mib(row.peakRssMiB),
    fmt.ratio(row.vsBare),
    fmt.ratio(row.vsNginx),
  ];
}

export const PICK_COLUMNS = [
  "algorithm",
  ...PICK_SIZES.map((n) => `${n} backends (M picks/s)`),
  "3 → 300 slowdown",
  "growth",
] as const;

export function pickRows(picks: readonly PickResult[]): string[][] {
  const rows: string[][] = [];
  for (const algorithm of ALGORITHM_NAMES) {
    const mine = picks.filter((p) => p.algorithm === algorithm);
    if (mine.length === 0) continue;
    const { slowdown, verdict } = growthOf(picks, algorithm);
    rows.push([
      algorithm,
      ...PICK_SIZES.map((n) => {
        const hit = mine.find((p) => p.backends === n);
        return hit ? fmt.mpicks(hit.picksPerSecond) : DASH;
      }),
      `${slowdown.toFixed(2)}×`,
      verdict,
    ]);
  }
  return rows;
}

export const ROWS_HEADING = "## Throughput and latency";
export const PICKS_HEADING = "## Pick cost";

/** The whole report as Markdown. */
export function toMarkdown(results: BenchResults): string {
  const m = results.machine;
  const versions = Object.entries(m.versions)
    .map(([name, version]) => `${name} ${version}`)
    .join(", ");
  const per =
    results.load.durationS !== null
      ? `${results.load.durationS} s per row after a ${results.load.warmup} warm-up`
      : `${results.load.requests} requests per row after a ${results.load.warmup} warm-up`;
  const lines = [
    `# edge-lb bench (${results.mode} run, ${results.startedAt.replace("T", " ").replace(/\.\d+Z$/, " UTC")})`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; ${versions}.`,
    `Other processes used ${results.otherCpuPercent.toFixed(0)}% of the machine's CPU during the run` +
      (results.otherCpuPercent > 5 ? " (a busy machine: req/s and latencies are disturbed; CPU µs/req less so)." : "."),
    "",
    `Load: ${results.load.tool}, ${results.load.connections} connections, ${per}, loopback (127.0.0.1) only; ` +
      `upstreams: ${results.load.upstreams}.`,
    "",
    ROWS_HEADING,
    "",
    table(ROW_COLUMNS, results.rows.map(rowCells), 4),
    "",
    "req/s, p50 and p99 from the load generator; p99 over bare = p99 minus the bare proxy's p99 in the same runtime; " +
      "store trips/req = the balancer's store round trips (GET /_lb/status, pools[].store.roundTrips) during the measured window ÷ requests; " +
      `${CLAIMS_NOTE} ` +
      "CPU µs/req = user + system CPU time of the server's process tree during the measured window ÷ requests (less sensitive than req/s to other load on the machine); " +
      "peak RSS = VmHWM of the server's process tree; ÷ bare and ÷ nginx are req/s ratios.",
    "",
    ...webSocketMarkdown(results.webSockets, results.webSocketLoad),
    PICKS_HEADING,
    "",
    "Picks per second of `new CandidateWalk(buildSelector(algorithm, backends), input, nothing unavailable).next()` on one core (median of three runs).",
    "",
    table(PICK_COLUMNS, pickRows(results.picks), 1, PICK_COLUMNS.length - 1),
    "",
    ...pairMarkdown(results.pairs ?? []),
    ...(results.featureInstructions ?? []).flatMap((counted) =>
      featureInstructionMarkdown(counted, counted.baseUs ?? undefined),
    ),
    ...coldStartMarkdown(results.coldStarts ?? []),
    ...bundleMarkdown(results.bundle),
    ...profileMarkdown(results.profiles ?? []),
    "## Targets",
    "",
    ...results.targets.map((t) => `- ${t.met ? "met" : "**missed**"}: ${t.target}: ${t.value}`),
    "",
  ];
  if (results.notes.length) lines.push("## Notes", "", ...results.notes.map((n) => `- ${n}`), "");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Targets (reported, not asserted)

const isRouted = (row: RowResult) => row.id.endsWith("-routes");

/** Issue 13: ten routes and three pools add under 5 µs of CPU per request over the one-pool row. */
function routingTargets(rows: readonly RowResult[]): TargetCheck[] {
  return rows.filter(isRouted).flatMap((routed) => {
    const single = rows.find((r) => r.id === routed.id.slice(0, -"-routes".length));
    if (routed.cpuUsPerRequest === null || single?.cpuUsPerRequest == null) return [];
    const added = routed.cpuUsPerRequest - single.cpuUsPerRequest;
    return [
      {
        target: `${routed.runtime}: 10 routes and 3 pools add ≤ 5 µs CPU per request`,
        value: `${added >= 0 ? "+" : ""}${added.toFixed(1)} µs (${single.cpuUsPerRequest.toFixed(1)} → ${routed.cpuUsPerRequest.toFixed(1)})`,
        met: added <= 5,
      },
    ];
  });
}

export function checkTargets(
  rows: readonly RowResult[],
  picks: readonly PickResult[],
  routing?: RoutingCost,
  pairs: readonly RowPair[] = [],
): TargetCheck[] {
  const ok = rows.filter((r) => !r.failed);
  // A feature measured side by side (paired-rows.ts) is judged there, not by rows minutes apart.
  const paired = new Set(pairs.map((pair) => pair.variant.id));
  const unpaired = ok.filter((r) => !paired.has(r.id));
  const checks: TargetCheck[] = [];
  checks.push(...hotPathTargets(ok, picks));
  const sequenced = ok.filter(
    (r) =>
      (r.algorithm === "round-robin" || r.algorithm === "weighted-round-robin" || r.algorithm === "ip-hash") &&
      r.storeRoundTripsPerRequest !== null &&
      !isHeaderAffinity(r),
  );
  if (sequenced.length) {
    const worst = sequenced.reduce((a, b) => (b.storeRoundTripsPerRequest! > a.storeRoundTripsPerRequest! ? b : a));
    checks.push({
      target: "≤ 0.02 store round trips per request (round robin, IP hash)",
      value: `worst ${fmt.trips(worst.storeRoundTripsPerRequest)} (${worst.id}); ${sequenced
        .map((r) => `${r.id} ${fmt.trips(r.storeRoundTripsPerRequest)}`)
        .join(", ")}`,
      met: worst.storeRoundTripsPerRequest! <= 0.02,
    });
  }
  checks.push(...headerAffinityTargets(ok), ...routingTargets(unpaired));
  if (routing) {
    const added = routing.tenRoutesUs - routing.onePoolUs;
    checks.push({
      target: "routing with 10 routes and 3 pools adds ≤ 5 µs CPU per request (micro-benchmark, bundled)",
      value: `+${added.toFixed(2)} µs (${routing.onePoolUs.toFixed(3)} → ${routing.tenRoutesUs.toFixed(3)} µs per route-and-steer)`,
      met: added <= 5,
    });
  }
  for (const logged of unpaired.filter(isTextLogRow)) {
    const quiet = ok.find((r) => `${r.id}${TEXT_LOG_SUFFIX}` === logged.id);
    if (!quiet) continue;
    const ratio = logged.rps / quiet.rps;
    checks.push({
      target: `${logged.runtime}: the request log line ("Forwarding request to: ...") costs ≤ 10% of req/s`,
      value: `${fmt.ratio(ratio)} × ${quiet.id} (${fmt.int(logged.rps)} against ${fmt.int(quiet.rps)} req/s)`,
      met: ratio >= 0.9,
    });
  }
  for (const logged of unpaired.filter(isJsonLogRow)) {
    const quiet = ok.find((r) => `${r.id}${JSON_LOG_SUFFIX}` === logged.id);
    if (!quiet) continue;
    const ratio = logged.rps / quiet.rps;
    checks.push({
      target: `${logged.runtime}: the JSON access log costs ≤ 10% of req/s`,
      // CPU per request beside the ratio: on a busy machine it moves less than req/s does.
      value:
        `${fmt.ratio(ratio)} × ${quiet.id} (${fmt.int(logged.rps)} against ${fmt.int(quiet.rps)} req/s` +
        (logged.cpuUsPerRequest === null || quiet.cpuUsPerRequest === null
          ? ")"
          : `; CPU ${fmt.us(quiet.cpuUsPerRequest)} → ${fmt.us(logged.cpuUsPerRequest)} µs/req)`),
      met: ratio >= 0.9,
    });
  }
  for (const global of ok.filter(isGlobalFetchRow)) {
    const pooled = ok.find((r) => `${r.id}${GLOBAL_FETCH_SUFFIX}` === global.id);
    if (!pooled) continue;
    const cpu =
      pooled.cpuUsPerRequest !== null && global.cpuUsPerRequest !== null
        ? `, CPU ${fmt.int(pooled.cpuUsPerRequest)} against ${fmt.int(global.cpuUsPerRequest)} µs/req`
        : "";
    checks.push({
      target: `${pooled.runtime}: a keep-alive pool per backend serves at least what the global dispatcher does`,
      value: `${fmt.ratio(pooled.rps / global.rps)} × ${global.id} (${fmt.int(pooled.rps)} against ${fmt.int(global.rps)} req/s${cpu})`,
      met: pooled.rps >= global.rps,
    });
  }
  return checks;
}
