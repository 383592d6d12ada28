// Micro-benchmark of the pick functions: picks per second for each algorithm at 3, 30 and 300
// backends (buildSelector once, then a CandidateWalk's first next(), as a request takes it, with
// nothing unavailable), to show how the cost grows with the number of backends.
//
//   npm run bench:picks [-- --quick]
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { CandidateWalk } from "../../src/balancer/candidate-walk.ts";
import { ALGORITHM_NAMES, type Algorithm, buildSelector } from "../../src/balancer/registry.ts";
import type { SelectionInput } from "../../src/balancer/types.ts";
import type { Backend, LatencyEstimate, LoadView } from "../../src/shared/backend.ts";

export const PICK_SIZES = [3, 30, 300] as const;

export interface PickResult {
  readonly algorithm: Algorithm;
  readonly backends: number;
  /** Median of the timed runs. */
  readonly picksPerSecond: number;
  readonly nsPerPick: number;
  /** Time to build the selector once (Maglev fills its table here). */
  readonly buildMs: number;
}

export interface PickOptions {
  /** Time per timed run, ms (three timed runs after one warm-up run). */
  readonly runMs?: number;
  readonly algorithms?: readonly Algorithm[];
  readonly sizes?: readonly number[];
}

/** A small deterministic PRNG (xorshift32) so every run sees the same inputs. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function backendsOf(count: number): Backend[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `backend-${i}`,
    url: `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
    weight: 1 + (i % 3),
    backup: false,
  }));
}

function loadOf(backends: readonly Backend[], random: () => number, now: number): LoadView {
  const inflight = new Map<string, number>();
  const latency = new Map<string, LatencyEstimate>();
  for (const backend of backends) {
    inflight.set(backend.name, Math.floor(random() * 10));
    latency.set(backend.name, { ewmaMs: 1 + random() * 20, updatedAt: now - Math.floor(random() * 5_000) });
  }
  return {
    inflight: (name) => inflight.get(name) ?? 0,
    latency: (name) => latency.get(name),
  };
}

function measure(algorithm: Algorithm, count: number, runMs: number): PickResult {
  const backends = backendsOf(count);
  const buildStart = performance.now();
  const selector = buildSelector(algorithm, backends);
  const buildMs = performance.now() - buildStart;
  const random = xorshift(0x9e3779b9 ^ count);
  const now = Date.now();
  const keys = Array.from({ length: 4096 }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}`);
  const input: { -readonly [K in keyof SelectionInput]: SelectionInput[K] } = {
    seq: 0,
    key: keys[0]!,
    load: loadOf(backends, random, now),
    random,
    now,
  };
  const limits = { unavailable: new Set<string>() };
  let sink = 0;
  let seq = 0;

  const run = (ms: number): number => {
    const started = performance.now();
    let picks = 0;
    let elapsed = 0;
    do {
      for (let i = 0; i < 256; i++) {
        input.seq = seq++;
        input.key = keys[seq & 4095]!;
        sink += new CandidateWalk(selector, input, limits).next()!.weight;
      }
      picks += 256;
      elapsed = performance.now() - started;
    } while (elapsed < ms);
    return (picks / elapsed) * 1000;
  };

  run(runMs);
  const rates = [run(runMs), run(runMs), run(runMs)].sort((a, b) => a - b);
  if (sink === -1) console.log(sink); // keeps the picks observable
  const picksPerSecond = rates[1]!;
  return { algorithm, backends: count, picksPerSecond, nsPerPick: 1e9 / picksPerSecond, buildMs };
}

export function runPicks(options: PickOptions = {}): PickResult[] {
  const results: PickResult[] = [];
  for (const algorithm of options.algorithms ?? ALGORITHM_NAMES) {
    for (const count of options.sizes ?? PICK_SIZES) results.push(measure(algorithm, count, options.runMs ?? 300));
  }
  return results;
}

/** How a pick's cost grows from the smallest to the largest size: the slowdown and a verdict. */
export function growthOf(results: readonly PickResult[], algorithm: Algorithm): { slowdown: number; verdict: string } {
  const rows = results.filter((r) => r.algorithm === algorithm).sort((a, b) => a.backends - b.backends);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const slowdown = first.picksPerSecond / last.picksPerSecond;
  // log(300)/log(3) = 5.2: a logarithmic cost may slow down about that much; linear would be 100x.
  const logBound = Math.log(last.backends) / Math.log(first.backends);
  const verdict =
    slowdown <= 1.5 ? "flat" : slowdown <= logBound * 1.5 ? "logarithmic or better" : "grows faster than logarithmic";
  return { slowdown, verdict };
}

async function main(): Promise<void> {
  let quick: boolean;
  try {
    const { values } = parseArgs({ options: { quick: { type: "boolean" } }, strict: true, allowPositionals: false });
    quick = values.quick === true;
  } catch (error) {
    console.error(`${(error as Error).message}\nusage: npm run bench:picks [-- --quick]`);
    process.exit(2);
  }
  const results = runPicks({ runMs: quick ? 50 : 300 });
  console.log("algorithm                 backends   picks/s        ns/pick   build ms");
  for (const r of results) {
    console.log(
      `${r.algorithm.padEnd(26)}${String(r.backends).padStart(8)}   ${Math.round(r.picksPerSecond).toString().padStart(12)}   ${r.nsPerPick.toFixed(1).padStart(8)}   ${r.buildMs.toFixed(2).padStart(8)}`,
    );
  }
  for (const algorithm of ALGORITHM_NAMES) {
    const { slowdown, verdict } = growthOf(results, algorithm);
    console.log(`${algorithm}: 3 -> 300 backends costs ${slowdown.toFixed(2)}x per pick (${verdict})`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
