// One simulated run: a fleet of instances (the project's real code, scripts/simulate/instance.ts)
// sharing a simulated store, requests arriving at random instances, and the measurements the
// issue asks for. runScenario is deterministic for a given scenario (seeded).
import type { Algorithm } from "../../src/balancer/registry.ts";
import type { OutlierPolicy } from "../../src/health/outlier.ts";
import type { LoadView } from "../../src/shared/backend.ts";
import type { ProbeSpec } from "../../src/shared/probe-spec.ts";
import { type BackendFailure, type BackendModel, SimBackends } from "./backends.ts";
import { SimClock } from "./clock.ts";
import { type InstanceOptions, type RequestResult, SimInstance } from "./instance.ts";
import { meanCv, PRICES, quantile, timeToStopUsing, type WindowShare, windowShares } from "./metrics.ts";
import { exponential, logNormal, seeded } from "./random.ts";
import { SimStore, STORE_OPS, type StoreModel, type StoreOp } from "./store.ts";

/** Requests per second over time: constant, a linear ramp, or a spike on a base rate. */
export type RateShape =
  | { readonly kind: "constant"; readonly rps: number }
  | { readonly kind: "ramp"; readonly fromRps: number; readonly toRps: number }
  | {
      readonly kind: "spike";
      readonly rps: number;
      readonly peakRps: number;
      readonly atS: number;
      readonly forS: number;
    };

export interface Scenario {
  readonly name: string;
  readonly instances: number;
  readonly rate: RateShape;
  /** Measured after the warm-up, for this long. */
  readonly durationS: number;
  readonly warmupS: number;
  readonly algorithm: Algorithm;
  readonly sequenceBatch: number;
  readonly syncIntervalMs: number;
  /** Store calls per second the fleet's background syncs may spend (SYNC_BUDGET); 0: no budget. */
  readonly syncBudget: number;
  readonly storeLatency: { readonly medianMs: number; readonly p99Ms: number };
  /** A store call not answered within this is failed by the instance (STORE_TIMEOUT_MS; default 200). */
  readonly storeTimeoutMs?: number;
  readonly storeErrorRate?: number;
  readonly storeOutages?: StoreModel["outages"];
  /** The store object's request limit per second (a Durable Object: about 1,000); 0: none. */
  readonly storeRateLimit?: number;
  readonly backends?: readonly BackendModel[];
  readonly failures?: readonly BackendFailure[];
  /** Active checks (a ProbeSpec's fields; defaults below) or none. */
  readonly healthCheck?: Partial<ProbeSpec>;
  readonly outlier?: Partial<OutlierPolicy>;
  /** Least connections with every instance reading the true in-flight counts (the oracle). */
  readonly oracle?: boolean;
  /**
   * Instead of Poisson arrivals: `concurrency` clients sending requests one after another, to
   * instances chosen at random: first `warmupRequests` (not measured), then `requests`.
   */
  readonly closedLoop?: { readonly concurrency: number; readonly requests: number; readonly warmupRequests?: number };
  /** Workers: the reporter runs in bounded turns in requests' backgrounds (PoolStateOptions). */
  readonly boundedBackground?: boolean;
  readonly seed: number;
}

export const DEFAULT_BACKENDS: readonly BackendModel[] = [
  { name: "a", weight: 1, capacity: 60, medianMs: 30, p99Ms: 120 },
  { name: "b", weight: 1, capacity: 100, medianMs: 40, p99Ms: 160 },
  { name: "c", weight: 1, capacity: 140, medianMs: 50, p99Ms: 200 },
];

const DEFAULT_CHECK: ProbeSpec = {
  path: "/healthz",
  method: "GET",
  expectedStatus: ["2xx"],
  headers: {},
  timeoutMs: 2_000,
  intervalMs: 10_000,
  rise: 2,
  fall: 3,
};

const DEFAULT_OUTLIER: OutlierPolicy = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  failureOn5xx: false,
};

export interface FailoverResult {
  readonly backend: string;
  readonly atS: number;
  /** From the failure to the store's first record of it down or ejected (ms). */
  readonly detectedAfterMs: number | undefined;
  /** From the failure to the start of the first 5 s in which no request chose it (ms). */
  readonly stoppedAfterMs: number | undefined;
  /** Requests that chose it first while it was failing. */
  readonly wastedFirstTries: number;
}

export interface SimResult {
  readonly scenario: Scenario;
  readonly requests: number;
  readonly failed: number;
  /** Store calls per second over the measured part, in total and per operation. */
  readonly storeCallsPerS: number;
  readonly storeCallsPerSByOp: Readonly<Record<StoreOp, number>>;
  readonly storePeakCallsPerS: number;
  readonly storeCallsPerRequest: number;
  /** The whole run, second by second (warm-up included), for charts. */
  readonly storeCallSeries: readonly number[];
  readonly storeRefused: number;
  /** Round trips the instances counted (PoolState stats), per request: what /_lb/status reports. */
  readonly tripsPerRequest: number;
  readonly costPerMillion: { readonly upstash: number; readonly durableObject: number };
  readonly windows: readonly WindowShare[];
  readonly fairness: { readonly worstMaxOverMin: number; readonly meanCv: number; readonly maxCv: number };
  /** Requests each backend answered over the measured part, and their shares. */
  readonly shares: Readonly<Record<string, number>>;
  readonly counts: Readonly<Record<string, number>>;
  readonly failovers: readonly FailoverResult[];
  /** In-flight per unit of weight across backends, sampled every 50 ms: its mean coefficient of variation. */
  readonly inflightCv: number;
  readonly latency: { readonly meanMs: number; readonly p99Ms: number };
  /** Instances that served at least one request. */
  readonly activeInstances: number;
  readonly wallMs: number;
  readonly events: number;
}

function rateAt(shape: RateShape, s: number, totalS: number): number {
  switch (shape.kind) {
    case "constant":
      return shape.rps;
    case "ramp":
      return Math.max(0.001, shape.fromRps + (shape.toRps - shape.fromRps) * Math.min(1, s / totalS));
    case "spike":
      return s >= shape.atS && s < shape.atS + shape.forS ? shape.peakRps : shape.rps;
  }
}

const START = Date.UTC(2026, 0, 1);

export async function runScenario(scenario: Scenario): Promise<SimResult> {
  // The project's own code draws a few things from Math.random (a local rotation's start, the
  // first health-check attempt): seeded for the run, so a run repeats exactly.
  const random = Math.random;
  Math.random = seeded(scenario.seed + 6);
  try {
    return await simulate(scenario);
  } finally {
    Math.random = random;
  }
}

async function simulate(scenario: Scenario): Promise<SimResult> {
  const wallStart = performance.now();
  const random = seeded(scenario.seed);
  const clock = new SimClock(START);
  const store = new SimStore(
    clock,
    {
      latencyMs: logNormal(seeded(scenario.seed + 1), scenario.storeLatency.medianMs, scenario.storeLatency.p99Ms),
      errorRate: scenario.storeErrorRate ?? 0,
      outages: scenario.storeOutages ?? [],
      ratePerSecond: scenario.storeRateLimit ?? 0,
      maxQueueMs: 100,
    },
    START,
    seeded(scenario.seed + 2),
  );
  const models = scenario.backends ?? DEFAULT_BACKENDS;
  const backends = new SimBackends(clock, models, scenario.failures ?? [], START, seeded(scenario.seed + 3));
  const options: InstanceOptions = {
    algorithm: scenario.algorithm,
    state: {
      maxBatch: scenario.sequenceBatch,
      syncIntervalMs: scenario.syncIntervalMs,
      reportGapMs: 50,
      inflightTtlMs: 15_000,
      storeTimeoutMs: scenario.storeTimeoutMs ?? 200,
      syncBudget: scenario.syncBudget,
      ...(scenario.boundedBackground ? { boundedBackground: true } : {}),
    },
    outlier: { ...DEFAULT_OUTLIER, ...scenario.outlier },
    availability: { maxEjectionPercent: 50, panicThresholdPercent: 0, slowStartMs: 0 },
    healthCheck: scenario.healthCheck ? { ...DEFAULT_CHECK, ...scenario.healthCheck } : undefined,
    maxAttempts: 3,
    timeoutMs: 30_000,
  };
  const oracle: LoadView | undefined = scenario.oracle
    ? { inflight: (name) => backends.inflight.get(name) ?? 0, latency: () => undefined }
    : undefined;
  // Created on their first request: an instance nobody has sent anything has no timers either.
  const instances: (SimInstance | undefined)[] = new Array(scenario.instances);
  const instanceRandom = seeded(scenario.seed + 4);
  const pickRandom = seeded(scenario.seed + 5);
  const instanceAt = (i: number): SimInstance => {
    let instance = instances[i];
    if (!instance) {
      instance = new SimInstance(`i${i}`, store, clock, backends, options, instanceRandom, oracle);
      instances[i] = instance;
    }
    return instance;
  };

  const totalS = scenario.warmupS + scenario.durationS;
  const end = START + totalS * 1000;
  const results: { atS: number; result: RequestResult }[] = [];
  let inFlight = 0;
  const send = async (i: number): Promise<void> => {
    const atS = (clock.now() - START) / 1000;
    inFlight++;
    const result = await instanceAt(i).handle();
    inFlight--;
    results.push({ atS, result });
  };

  let warm: { atS: number; trips: number } | undefined;
  if (scenario.closedLoop) {
    const { concurrency, requests, warmupRequests = 0 } = scenario.closedLoop;
    const phase = async (count: number) => {
      let sent = 0;
      const lane = async () => {
        while (sent < count) {
          sent++;
          await send(Math.floor(pickRandom() * scenario.instances));
        }
      };
      let done = false;
      void Promise.all(Array.from({ length: concurrency }, lane)).then(() => {
        done = true;
      });
      // Bounded in simulated time (an hour) as well as in count.
      while (!done && clock.now() < START + 3_600_000) await clock.runUntil(clock.now() + 100);
    };
    await phase(warmupRequests);
    warm = { atS: (clock.now() - START) / 1000, trips: tripsOf(instances) };
    await phase(requests);
  } else {
    const arrive = () => {
      if (clock.now() >= end) return;
      const s = (clock.now() - START) / 1000;
      void send(Math.floor(pickRandom() * scenario.instances));
      const rate = rateAt(scenario.rate, s, totalS);
      clock.after(exponential(random, 1000 / rate), arrive);
    };
    clock.after(exponential(random, 1000 / rateAt(scenario.rate, 0, totalS)), arrive);
  }

  // Samples of the true in-flight counts for least connections' balance.
  const inflightCvs: number[] = [];
  const weights = Object.fromEntries(models.map((m) => [m.name, m.weight]));
  const sample = () => {
    if ((clock.now() - START) / 1000 >= scenario.warmupS) {
      const names = models.map((m) => m.name).filter((name) => !backends.failing(name));
      const values = names.map((name) => (backends.inflight.get(name) ?? 0) / weights[name]!);
      if (values.some((v) => v > 0)) inflightCvs.push(meanCv(values).cv);
    }
    clock.after(50, sample);
  };
  clock.after(50, sample);

  if (!scenario.closedLoop) await clock.runUntil(end);
  // Let requests still in flight finish (bounded), so none is left half-counted.
  for (let i = 0; i < 120 && inFlight > 0; i++) await clock.runUntil(clock.now() + 1_000);

  return summarize(scenario, { store, backends, instances, results, inflightCvs, weights, clock, wallStart, warm });
}

/** Store round trips the instances have counted so far (their PoolState stats). */
function tripsOf(instances: readonly (SimInstance | undefined)[]): number {
  let trips = 0;
  for (const instance of instances) trips += instance?.state.stats.roundTrips ?? 0;
  return trips;
}

function summarize(
  scenario: Scenario,
  run: {
    store: SimStore;
    backends: SimBackends;
    instances: readonly (SimInstance | undefined)[];
    results: readonly { atS: number; result: RequestResult }[];
    inflightCvs: readonly number[];
    weights: Record<string, number>;
    clock: SimClock;
    wallStart: number;
    warm: { atS: number; trips: number } | undefined;
  },
): SimResult {
  const { store, results, weights } = run;
  const fromS = run.warm ? run.warm.atS : scenario.warmupS;
  const toS = scenario.closedLoop
    ? Math.max(fromS, ...results.map((r) => r.atS)) + 1e-9
    : scenario.warmupS + scenario.durationS;
  const measured = results.filter((r) => r.atS >= fromS && r.atS < toS);
  const [firstSecond, lastSecond] = [Math.floor(fromS), Math.ceil(toS)];
  const seconds = Math.max(1, lastSecond - firstSecond);
  const byOp = Object.fromEntries(
    STORE_OPS.map((op) => {
      const series = store.perSecond.get(op)!;
      let sum = 0;
      for (let s = firstSecond; s < lastSecond; s++) sum += series[s] ?? 0;
      return [op, sum / seconds];
    }),
  ) as Record<StoreOp, number>;
  const totalCalls = Object.values(byOp).reduce((a, b) => a + b, 0) * seconds;
  const runSeconds = Math.max(...[...store.perSecond.values()].map((s) => s.length));
  const series = Array.from({ length: runSeconds }, (_, s) => store.callsIn(s));
  const perRequest = measured.length > 0 ? totalCalls / measured.length : 0;

  const failures = scenario.failures ?? [];
  const failingDuring = (backend: string, from: number, to: number) =>
    failures.some((f) => f.backend === backend && f.at / 1000 < to && (f.until === undefined || f.until / 1000 > from));
  const choices = measured.flatMap((r) => (r.result.first ? [{ atS: r.atS, backend: r.result.first }] : []));
  const windows = windowShares(choices, weights, fromS, toS, 10, failingDuring);
  const finite = windows.map((w) => w.maxOverMin).filter(Number.isFinite);
  // Which backend answered each request (what a client's tally of x-upstream sees).
  const counts: Record<string, number> = Object.fromEntries(Object.keys(weights).map((name) => [name, 0]));
  for (const r of measured) if (r.result.served) counts[r.result.served] = (counts[r.result.served] ?? 0) + 1;
  const served = Object.values(counts).reduce((a, b) => a + b, 0);
  const shares = Object.fromEntries(Object.entries(counts).map(([name, n]) => [name, n / Math.max(1, served)]));

  const failovers = failures.map((failure): FailoverResult => {
    const atS = failure.at / 1000;
    const untilS = Math.min(toS, failure.until === undefined ? toS : failure.until / 1000);
    const times = run.results.filter((r) => r.result.first === failure.backend).map((r) => r.atS);
    const marked = store.patches.find(
      (p) =>
        p.backend === failure.backend &&
        p.at >= START + failure.at &&
        (p.patch.health === "down" || (p.patch.ejectedUntil ?? 0) > p.at),
    );
    const stopped = timeToStopUsing(times, atS, untilS, 5);
    return {
      backend: failure.backend,
      atS,
      detectedAfterMs: marked ? marked.at - START - failure.at : undefined,
      stoppedAfterMs: stopped === undefined ? undefined : stopped * 1000,
      wastedFirstTries: times.filter((t) => t >= atS && t < untilS).length,
    };
  });

  const latencies = measured.map((r) => r.result.latencyMs).sort((a, b) => a - b);
  const trips = tripsOf(run.instances) - (run.warm?.trips ?? 0);
  return {
    scenario,
    requests: measured.length,
    failed: measured.filter((r) => r.result.served === undefined).length,
    storeCallsPerS: totalCalls / seconds,
    storeCallsPerSByOp: byOp,
    storePeakCallsPerS: Math.max(0, ...series.slice(firstSecond, lastSecond)),
    storeCallsPerRequest: perRequest,
    storeCallSeries: series,
    storeRefused: store.failures,
    tripsPerRequest: measured.length > 0 ? trips / measured.length : 0,
    costPerMillion: {
      upstash: perRequest * 1_000_000 * PRICES.upstashPerCall,
      durableObject: perRequest * 1_000_000 * PRICES.durableObjectPerCall,
    },
    windows,
    fairness: {
      worstMaxOverMin: finite.length > 0 ? Math.max(...finite) : Number.NaN,
      meanCv: windows.length > 0 ? windows.reduce((a, w) => a + w.cv, 0) / windows.length : Number.NaN,
      maxCv: windows.length > 0 ? Math.max(...windows.map((w) => w.cv)) : Number.NaN,
    },
    shares,
    counts,
    failovers,
    inflightCv: run.inflightCvs.length > 0 ? run.inflightCvs.reduce((a, b) => a + b, 0) / run.inflightCvs.length : 0,
    latency: {
      meanMs: latencies.length > 0 ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0,
      p99Ms: quantile(latencies, 0.99),
    },
    activeInstances: run.instances.filter(Boolean).length,
    wallMs: performance.now() - run.wallStart,
    events: run.clock.fired,
  };
}
