// What a run measured, computed from its raw records. Pure functions over plain data.

/** Mean and coefficient of variation (population standard deviation over the mean). */
export function meanCv(values: readonly number[]): { mean: number; cv: number } {
  if (values.length === 0) return { mean: 0, cv: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return { mean, cv: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return { mean, cv: Math.sqrt(variance) / mean };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface WindowShare {
  /** Window start, s since the start of the run. */
  readonly fromS: number;
  /** Requests per backend (the algorithm's first choice), divided by the backend's weight. */
  readonly perWeight: Readonly<Record<string, number>>;
  readonly maxOverMin: number;
  readonly cv: number;
}

/**
 * The share of each backend per window: how evenly the algorithm's first choices fell, per unit
 * of weight. Backends listed in `exclude` for a window (failing during it) are left out of it.
 */
export function windowShares(
  choices: readonly { readonly atS: number; readonly backend: string }[],
  weights: Readonly<Record<string, number>>,
  fromS: number,
  toS: number,
  windowS: number,
  excluded: (backend: string, fromS: number, toS: number) => boolean = () => false,
): WindowShare[] {
  const windows: WindowShare[] = [];
  for (let start = fromS; start + windowS <= toS + 1e-9; start += windowS) {
    const names = Object.keys(weights).filter((name) => !excluded(name, start, start + windowS));
    const counts: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
    for (const choice of choices) {
      if (choice.atS >= start && choice.atS < start + windowS && choice.backend in counts) counts[choice.backend]!++;
    }
    const perWeight = Object.fromEntries(names.map((name) => [name, counts[name]! / weights[name]!]));
    const values = Object.values(perWeight);
    const min = Math.min(...values);
    windows.push({
      fromS: start,
      perWeight,
      maxOverMin: min > 0 ? Math.max(...values) / min : Number.POSITIVE_INFINITY,
      cv: meanCv(values).cv,
    });
  }
  return windows;
}

/**
 * After a backend fails at `failedAtS`: the start of the first `quietS` seconds in which no
 * request chose it first, minus the failure time; undefined when that never happened before `untilS`.
 */
export function timeToStopUsing(
  choiceTimesS: readonly number[],
  failedAtS: number,
  untilS: number,
  quietS: number,
): number | undefined {
  const after = choiceTimesS.filter((t) => t >= failedAtS && t < untilS).sort((a, b) => a - b);
  let quietFrom = failedAtS;
  for (const t of after) {
    if (t - quietFrom >= quietS) return quietFrom - failedAtS;
    quietFrom = t;
  }
  return untilS - quietFrom >= quietS ? quietFrom - failedAtS : undefined;
}

/** List prices, per call: both stores bill each StateStore call as one unit (see docs/scale/README.md). */
export const PRICES = {
  /** Upstash pay as you go: $0.20 per 100,000 commands. */
  upstashPerCall: 0.2 / 100_000,
  /** Durable Objects (Workers Paid): $0.15 per million requests beyond the included million. */
  durableObjectPerCall: 0.15 / 1_000_000,
} as const;
