// The scenarios `npm run simulate` runs, each a family of runs over one parameter, before the
// fix (SYNC_BUDGET=0: every instance syncs every second while it has requests, and reserves its
// own sequence blocks) and after it (the default budget of 400 calls per second).
import type { Scenario } from "./scenario.ts";

export const BUDGET = 400;

/** Before and after the fix, as they appear in tables and legends. */
export const VARIANTS = [
  { label: "before (no budget)", syncBudget: 0 },
  { label: `after (SYNC_BUDGET=${BUDGET})`, syncBudget: BUDGET },
] as const;

const BASE: Omit<Scenario, "name" | "instances"> = {
  rate: { kind: "constant", rps: 1_000 },
  durationS: 60,
  warmupS: 60,
  algorithm: "round-robin",
  sequenceBatch: 64,
  syncIntervalMs: 1_000,
  syncBudget: BUDGET,
  storeLatency: { medianMs: 10, p99Ms: 50 },
  seed: 1,
};

export interface Family {
  /** File stem of its chart and the heading of its table. */
  readonly id: string;
  readonly title: string;
  readonly runs: readonly Scenario[];
}

export function families(quick: boolean): Family[] {
  // --quick: every chart from fewer, shorter runs (under a minute); the full run is the record.
  const time = quick ? { warmupS: 15, durationS: 15 } : { warmupS: 60, durationS: 60 };
  const scaleCounts = quick ? [1, 10, 100, 1_000, 10_000] : [1, 3, 10, 30, 100, 300, 1_000, 3_000, 10_000];
  const failoverCounts = quick ? [3, 300] : [3, 100, 1_000, 10_000];
  const lcCounts = quick ? [3, 30] : [1, 3, 10, 100, 1_000];
  const spikeInstances = quick ? 300 : 1_000;
  const both = (make: (variant: (typeof VARIANTS)[number]) => Scenario[]) => VARIANTS.flatMap(make);

  return [
    {
      id: "scale",
      title: "Store load against the number of instances (1,000 req/s in total, round robin)",
      runs: both((variant) =>
        scaleCounts.map((instances) => ({
          ...BASE,
          ...time,
          name: `${variant.label}, ${instances} instances`,
          instances,
          syncBudget: variant.syncBudget,
        })),
      ),
    },
    {
      id: "failover",
      title: "Failover: backend b refuses connections; health checks every 10 s (fall 3) and passive ejection",
      runs: both((variant) =>
        failoverCounts.map((instances) => ({
          ...BASE,
          warmupS: quick ? 15 : 40,
          durationS: quick ? 45 : 90,
          name: `${variant.label}, ${instances} instances`,
          instances,
          syncBudget: variant.syncBudget,
          healthCheck: {},
          failures: [{ backend: "b", at: ((quick ? 15 : 40) + 10) * 1000, mode: "refuse" as const }],
        })),
      ),
    },
    {
      id: "least-connections",
      title: "Least connections against an oracle that sees every instance's counts (1,000 req/s)",
      runs: [
        ...both((variant) =>
          lcCounts.map((instances) => ({
            ...BASE,
            ...time,
            name: `${variant.label}, ${instances} instances`,
            instances,
            algorithm: "least-connections" as const,
            syncBudget: variant.syncBudget,
          })),
        ),
        ...lcCounts.map((instances) => ({
          ...BASE,
          ...time,
          name: `oracle, ${instances} instances`,
          instances,
          algorithm: "least-connections" as const,
          oracle: true,
        })),
      ],
    },
    {
      id: "batch",
      title: "SEQUENCE_BATCH: fairness and store calls (30 instances, 1,000 req/s, after the fix)",
      runs: (quick ? [1, 64] : [1, 2, 4, 16, 64, 256]).map((sequenceBatch) => ({
        ...BASE,
        ...time,
        name: `SEQUENCE_BATCH=${sequenceBatch}`,
        instances: 30,
        sequenceBatch,
      })),
    },
    {
      id: "store-latency",
      title: "Store latency: fairness, store calls and request latency (30 instances, 1,000 req/s)",
      runs: (quick ? [2, 300] : [2, 10, 40, 120, 300]).map((medianMs) => ({
        ...BASE,
        ...time,
        name: `store median ${medianMs} ms`,
        instances: 30,
        storeLatency: { medianMs, p99Ms: medianMs * 4 },
      })),
    },
    {
      id: "spike",
      title: `A spike from 200 to 2,000 req/s for 20 s (${spikeInstances} instances): store calls per second over time`,
      runs: both((variant) => [
        {
          ...BASE,
          warmupS: quick ? 15 : 40,
          durationS: quick ? 35 : 60,
          name: `${variant.label}, spike`,
          instances: spikeInstances,
          rate: { kind: "spike", rps: 200, peakRps: 2_000, atS: quick ? 25 : 60, forS: 20 },
          syncBudget: variant.syncBudget,
        },
      ]),
    },
    ...(quick
      ? []
      : [
          {
            id: "sync-interval",
            title: "SYNC_INTERVAL_MS with b failing (300 instances, 1,000 req/s, health checks every 10 s)",
            runs: both((variant) =>
              [250, 1_000, 4_000].map((syncIntervalMs) => ({
                ...BASE,
                warmupS: 40,
                durationS: 90,
                name: `${variant.label}, SYNC_INTERVAL_MS=${syncIntervalMs}`,
                instances: 300,
                syncIntervalMs,
                syncBudget: variant.syncBudget,
                healthCheck: {},
                failures: [{ backend: "b", at: 50_000, mode: "refuse" as const }],
              })),
            ),
          },
        ]),
    {
      id: "limits",
      title: "10,000 instances against a Durable Object's limit (1,000 req/s per object), and a store outage",
      runs: [
        ...(quick
          ? []
          : both((variant) => [
              {
                ...BASE,
                ...time,
                name: `${variant.label}, 10,000 instances, object limited to 1,000 req/s`,
                instances: 10_000,
                storeRateLimit: 1_000,
                syncBudget: variant.syncBudget,
              },
            ])),
        ...both((variant) => [
          {
            ...BASE,
            ...time,
            name: `${variant.label}, 30 instances, store refusing for 10 s`,
            instances: 30,
            storeOutages: [
              { from: (time.warmupS + 2) * 1000, to: (time.warmupS + 12) * 1000, mode: "refuse" as const },
            ],
            syncBudget: variant.syncBudget,
          },
        ]),
      ],
    },
  ];
}
