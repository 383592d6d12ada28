// The simulation's tables, as Markdown: one per family of runs (docs/scale/results.md).
import type { SimResult } from "./scenario.ts";
import type { Family } from "./scenarios.ts";

const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const pct = (n: number, digits = 2): string => (Number.isFinite(n) ? `${(100 * n).toFixed(digits)}%` : "–");
const seconds = (ms: number | undefined): string => (ms === undefined ? "not within the run" : (ms / 1000).toFixed(1));
const money = (n: number): string => `$${n < 0.01 ? n.toFixed(4) : n.toFixed(2)}`;

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

const ops = (r: SimResult): string =>
  `${fixed(r.storeCallsPerSByOp.sync)} / ${fixed(r.storeCallsPerSByOp.reserve)} / ${fixed(r.storeCallsPerSByOp.tryLock)}`;

export function tableOf(family: Family, results: readonly SimResult[]): string {
  switch (family.id) {
    case "scale":
      return table(
        [
          "run",
          "store calls/s (peak)",
          "sync / reserve / lock per s",
          "calls per request",
          "Upstash $/M req",
          "DO $/M req",
          "fairness CV mean (max)",
          "worst max/min",
        ],
        results.map((r) => [
          r.scenario.name,
          `${fixed(r.storeCallsPerS)} (${r.storePeakCallsPerS})`,
          ops(r),
          fixed(r.storeCallsPerRequest, 3),
          money(r.costPerMillion.upstash),
          money(r.costPerMillion.durableObject),
          `${pct(r.fairness.meanCv)} (${pct(r.fairness.maxCv)})`,
          fixed(r.fairness.worstMaxOverMin, 3),
        ]),
      );
    case "failover":
      return table(
        [
          "run",
          "marked down in the store after (s)",
          "no instance uses it after (s)",
          "first tries on b while it failed",
          "failed requests",
          "store calls/s",
        ],
        results.map((r) => {
          const f = r.failovers[0]!;
          return [
            r.scenario.name,
            seconds(f.detectedAfterMs),
            seconds(f.stoppedAfterMs),
            String(f.wastedFirstTries),
            String(r.failed),
            fixed(r.storeCallsPerS),
          ];
        }),
      );
    case "sync-interval":
      return table(
        [
          "run",
          "store calls/s (peak)",
          "calls per request",
          "fairness CV mean (max)",
          "b marked down after (s)",
          "no instance uses b after (s)",
        ],
        results.map((r) => {
          const f = r.failovers[0]!;
          return [
            r.scenario.name,
            `${fixed(r.storeCallsPerS)} (${r.storePeakCallsPerS})`,
            fixed(r.storeCallsPerRequest, 3),
            `${pct(r.fairness.meanCv)} (${pct(r.fairness.maxCv)})`,
            seconds(f.detectedAfterMs),
            seconds(f.stoppedAfterMs),
          ];
        }),
      );
    case "least-connections":
      return table(
        ["run", "in-flight CV across backends", "mean latency (ms)", "p99 latency (ms)", "store calls/s"],
        results.map((r) => [
          r.scenario.name,
          fixed(r.inflightCv, 3),
          fixed(r.latency.meanMs),
          fixed(r.latency.p99Ms),
          fixed(r.storeCallsPerS),
        ]),
      );
    case "batch":
    case "store-latency":
      return table(
        [
          "run",
          "fairness CV mean (max)",
          "worst max/min",
          "store calls per request",
          "mean / p99 latency (ms)",
          "store calls refused",
        ],
        results.map((r) => [
          r.scenario.name,
          `${pct(r.fairness.meanCv)} (${pct(r.fairness.maxCv)})`,
          fixed(r.fairness.worstMaxOverMin, 3),
          fixed(r.storeCallsPerRequest, 3),
          `${fixed(r.latency.meanMs)} / ${fixed(r.latency.p99Ms)}`,
          String(r.storeRefused),
        ]),
      );
    default:
      return table(
        [
          "run",
          "store calls/s (peak)",
          "calls per request",
          "store calls refused",
          "fairness CV mean (max)",
          "mean / p99 latency (ms)",
          "failed requests",
        ],
        results.map((r) => [
          r.scenario.name,
          `${fixed(r.storeCallsPerS)} (${r.storePeakCallsPerS})`,
          fixed(r.storeCallsPerRequest, 3),
          String(r.storeRefused),
          `${pct(r.fairness.meanCv)} (${pct(r.fairness.maxCv)})`,
          `${fixed(r.latency.meanMs)} / ${fixed(r.latency.p99Ms)}`,
          String(r.failed),
        ]),
      );
  }
}

export function resultsDocument(
  sections: readonly { family: Family; results: readonly SimResult[] }[],
  quick: boolean,
): string {
  const parts = [
    "# Simulation results",
    "",
    `Written by \`npm run simulate${quick ? " -- --quick" : ""}\` (scripts/simulate/); docs/scale/README.md explains the model and each chart.`,
    "Each run: Poisson arrivals at instances chosen uniformly at random, backends a, b and c (capacity 60/100/140 in flight,",
    "median latency 30/40/50 ms), store round trip log-normal (median 10 ms, p99 50 ms) unless the run says otherwise.",
    "Figures cover the measured part after the warm-up; fairness is over 10 s windows.",
    "",
  ];
  for (const { family, results } of sections) {
    const first = family.runs[0]!;
    parts.push(
      `## ${family.title}`,
      "",
      `Warm-up ${first.warmupS} s, then ${first.durationS} s measured.`,
      "",
      tableOf(family, results),
      "",
    );
  }
  return `${parts.join("\n")}\n`;
}
