// `npm run simulate [-- --quick] [--out=DIR] [--only=scale,failover,...]`: runs the scenario
// families (scenarios.ts), writes one SVG chart per view and the tables (results.md) to DIR:
// docs/scale for the full run, dist/scale-quick for --quick unless --out says otherwise.
//
// `npm run simulate -- --instances=N [--rps=R] [--shape=...] [--algorithm=A] [--sequence-batch=B]
// [--sync-interval-ms=I] [--sync-budget=S] [--store-latency-ms=L] [--warmup-s=W] [--duration-s=D]`:
// one scenario of your own, before and after the fix (or with the budget given), as a table.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ALGORITHM_NAMES, type Algorithm } from "../../src/balancer/registry.ts";
import { chartsOf, svgOf } from "./charts.ts";
import { resultsDocument, tableOf } from "./report.ts";
import { type RateShape, runScenario, type Scenario, type SimResult } from "./scenario.ts";
import { families, VARIANTS } from "./scenarios.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    out: { type: "string" },
    only: { type: "string" },
    instances: { type: "string" },
    rps: { type: "string" },
    shape: { type: "string" },
    algorithm: { type: "string" },
    "sequence-batch": { type: "string" },
    "sync-interval-ms": { type: "string" },
    "sync-budget": { type: "string" },
    "store-latency-ms": { type: "string" },
    "warmup-s": { type: "string" },
    "duration-s": { type: "string" },
  },
  strict: true,
});

/** A positive number from a flag, or the default; anything else stops with the flag named. */
function numberFlag(name: keyof typeof values, fallback: number, { integer = true, min = 1 } = {}): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    console.error(
      `--${name}: expected ${integer ? "an integer" : "a number"} of at least ${min}, got ${JSON.stringify(text)}`,
    );
    process.exit(1);
  }
  return n;
}

/** constant | ramp:FROM-TO | spike:PEAK@AT+FOR (req/s, seconds), on --rps. */
function shapeOf(text: string | undefined, rps: number): RateShape {
  if (text === undefined || text === "constant") return { kind: "constant", rps };
  const ramp = /^ramp:(\d+)-(\d+)$/.exec(text);
  if (ramp) return { kind: "ramp", fromRps: Number(ramp[1]), toRps: Number(ramp[2]) };
  const spike = /^spike:(\d+)@(\d+)\+(\d+)$/.exec(text);
  if (spike) return { kind: "spike", rps, peakRps: Number(spike[1]), atS: Number(spike[2]), forS: Number(spike[3]) };
  console.error(`--shape: expected constant, ramp:FROM-TO or spike:PEAK@AT+FOR, got ${JSON.stringify(text)}`);
  process.exit(1);
}

async function custom(): Promise<void> {
  const algorithm = (values.algorithm ?? "round-robin") as Algorithm;
  if (!ALGORITHM_NAMES.includes(algorithm)) {
    console.error(`--algorithm: expected one of ${ALGORITHM_NAMES.join(", ")}, got ${JSON.stringify(algorithm)}`);
    process.exit(1);
  }
  const rps = numberFlag("rps", 1_000, { integer: false, min: 0.001 });
  const latency = numberFlag("store-latency-ms", 10, { integer: false, min: 0.01 });
  const base: Omit<Scenario, "name" | "syncBudget"> = {
    instances: numberFlag("instances", 100),
    rate: shapeOf(values.shape, rps),
    warmupS: numberFlag("warmup-s", 30),
    durationS: numberFlag("duration-s", 30),
    algorithm,
    sequenceBatch: numberFlag("sequence-batch", 64),
    syncIntervalMs: numberFlag("sync-interval-ms", 1_000, { min: 10 }),
    storeLatency: { medianMs: latency, p99Ms: latency * 4 },
    seed: 1,
  };
  const budgets =
    values["sync-budget"] === undefined
      ? VARIANTS.map((v) => ({ label: v.label, syncBudget: v.syncBudget }))
      : [{ label: `SYNC_BUDGET=${values["sync-budget"]}`, syncBudget: numberFlag("sync-budget", 0, { min: 0 }) }];
  const results: SimResult[] = [];
  for (const { label, syncBudget } of budgets) {
    results.push(await runScenario({ ...base, name: `${label}, ${base.instances} instances`, syncBudget }));
  }
  console.log(tableOf({ id: "custom", title: "", runs: [] }, results));
}

async function catalogue(): Promise<void> {
  const quick = values.quick === true;
  const out = values.out ?? (quick ? "dist/scale-quick" : "docs/scale");
  const only = values.only?.split(",");
  mkdirSync(out, { recursive: true });
  const started = performance.now();
  const sections: { family: ReturnType<typeof families>[number]; results: SimResult[] }[] = [];
  for (const family of families(quick)) {
    if (only && !only.includes(family.id)) continue;
    const results: SimResult[] = [];
    for (const scenario of family.runs) {
      const result = await runScenario(scenario);
      results.push(result);
      console.log(
        `${family.id}: ${scenario.name}: ${result.storeCallsPerS.toFixed(1)} store calls/s, ` +
          `${result.requests} requests, ${(result.wallMs / 1000).toFixed(1)} s`,
      );
    }
    sections.push({ family, results });
    for (const [name, spec] of Object.entries(chartsOf(family, results))) {
      writeFileSync(join(out, `${name}.svg`), await svgOf(spec));
    }
  }
  writeFileSync(join(out, "results.md"), resultsDocument(sections, quick));
  console.log(`wrote ${out}/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const scenarioFlags = [
  "instances",
  "rps",
  "shape",
  "algorithm",
  "sequence-batch",
  "sync-interval-ms",
  "sync-budget",
  "store-latency-ms",
  "warmup-s",
  "duration-s",
] as const;
if (scenarioFlags.some((flag) => values[flag] !== undefined)) await custom();
else await catalogue();
