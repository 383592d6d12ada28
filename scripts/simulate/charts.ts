// SVG charts of the simulation's results: Vega-Lite specs compiled and rendered by Vega in Node
// (renderer "none" and view.toSVG(): no canvas, no browser). vega and vega-lite are
// devDependencies of this script only; nothing in src/ imports them, so no bundle carries them.
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { SimResult } from "./scenario.ts";
import { type Family, VARIANTS } from "./scenarios.ts";

const ORACLE = "oracle (true in-flight counts)";

export async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}

const WIDTH = 520;
const HEIGHT = 260;
const CONFIG = { font: "Helvetica, Arial, sans-serif", view: { stroke: "#ddd" } };

const variantOf = (result: SimResult): string => result.scenario.name.split(",")[0]!;

/** The same colour for a variant in every chart: before red, after blue, the oracle green. */
const VARIANT_COLOR = {
  field: "variant",
  type: "nominal",
  title: null,
  scale: {
    domain: [...VARIANTS.map((v) => v.label), ORACLE],
    range: ["#e45756", "#4c78a8", "#54a24b"],
  },
  legend: { orient: "top", labelLimit: 400, values: VARIANTS.map((v) => v.label) },
} as const;

/** One chart per family (some families have more than one view in it). */
export function chartsOf(family: Family, results: readonly SimResult[]): Record<string, TopLevelSpec> {
  switch (family.id) {
    case "scale":
      return scaleCharts(results);
    case "failover":
      return { failover: failoverChart(results) };
    case "least-connections":
      return { "least-connections": leastConnectionsChart(results) };
    case "batch":
      return { batch: batchChart(results) };
    case "store-latency":
      return { "store-latency": storeLatencyChart(results) };
    case "spike":
      return { spike: spikeChart(results) };
    default:
      return {};
  }
}

function scaleCharts(results: readonly SimResult[]): Record<string, TopLevelSpec> {
  const rows = results.map((r) => ({
    instances: r.scenario.instances,
    variant: variantOf(r),
    callsPerS: Math.max(0.1, r.storeCallsPerS),
    upstash: r.costPerMillion.upstash,
    durableObject: r.costPerMillion.durableObject,
    cv: 100 * r.fairness.meanCv,
  }));
  const x = { field: "instances", type: "quantitative", scale: { type: "log" }, title: "instances" } as const;
  const color = VARIANT_COLOR;
  return {
    "scale-store-calls": {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "Store calls per second on one pool's object, 1,000 req/s in total",
      width: WIDTH,
      height: HEIGHT,
      config: CONFIG,
      layer: [
        {
          data: { values: rows },
          mark: { type: "line", point: true },
          encoding: {
            x,
            y: { field: "callsPerS", type: "quantitative", scale: { type: "log" }, title: "store calls per second" },
            color,
          },
        },
        {
          data: {
            values: [
              { y: 1_000, label: "Durable Object soft limit (1,000/s)" },
              { y: 500, label: "target: under 500/s at 10,000 instances" },
            ],
          },
          layer: [
            {
              mark: { type: "rule", strokeDash: [4, 4], color: "#b00" },
              encoding: { y: { field: "y", type: "quantitative" } },
            },
            {
              mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#b00", fontSize: 10 },
              encoding: { y: { field: "y", type: "quantitative" }, x: { datum: 1 }, text: { field: "label" } },
            },
          ],
        },
      ],
    },
    "scale-cost": {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "Store cost per million requests at list price",
      width: WIDTH,
      height: HEIGHT,
      config: CONFIG,
      data: { values: rows },
      transform: [
        { fold: ["upstash", "durableObject"], as: ["key", "dollars"] },
        {
          calculate:
            "datum.key === 'upstash' ? 'Upstash ($0.20 per 100k commands)' : 'Durable Object ($0.15 per million requests)'",
          as: "store",
        },
      ],
      mark: { type: "line", point: true },
      encoding: {
        x,
        y: { field: "dollars", type: "quantitative", scale: { type: "log" }, title: "US$ per million requests" },
        color,
        strokeDash: { field: "store", type: "nominal", title: null, legend: { orient: "bottom", labelLimit: 400 } },
      },
    },
    "scale-fairness": {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: "Round-robin fairness: coefficient of variation of the backends' shares per 10 s window",
      width: WIDTH,
      height: HEIGHT,
      config: CONFIG,
      data: { values: rows },
      mark: { type: "line", point: true },
      encoding: { x, y: { field: "cv", type: "quantitative", title: "CV per 10 s window (%)" }, color },
    },
  };
}

function failoverChart(results: readonly SimResult[]): TopLevelSpec {
  const rows = results.flatMap((r) =>
    r.failovers.flatMap((f) =>
      [
        { measure: "marked down in the store", ms: f.detectedAfterMs },
        { measure: "no instance uses it (5 s quiet)", ms: f.stoppedAfterMs },
      ].map(({ measure, ms }) => ({
        instances: String(r.scenario.instances),
        variant: variantOf(r),
        measure,
        s: ms === undefined ? null : ms / 1000,
        never: ms === undefined ? "not within the run" : "",
      })),
    ),
  );
  const order = [...new Set(results.map((r) => String(r.scenario.instances)))];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Seconds after backend b fails",
    config: CONFIG,
    data: { values: rows },
    facet: { column: { field: "measure", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: HEIGHT,
      encoding: {
        x: { field: "instances", type: "ordinal", sort: order, title: "instances", axis: { labelAngle: 0 } },
        xOffset: { field: "variant", sort: VARIANTS.map((v) => v.label) },
        color: VARIANT_COLOR,
      },
      layer: [
        { mark: "bar", encoding: { y: { field: "s", type: "quantitative", title: "seconds after the failure" } } },
        {
          transform: [{ filter: "datum.s === null" }],
          mark: { type: "text", angle: 270, align: "left", fontSize: 10 },
          encoding: { y: { datum: 0.5 }, text: { field: "never" } },
        },
      ],
    },
  };
}

function leastConnectionsChart(results: readonly SimResult[]): TopLevelSpec {
  const rows = results.map((r) => ({
    instances: r.scenario.instances,
    variant: r.scenario.oracle ? ORACLE : variantOf(r),
    cv: r.inflightCv,
    meanMs: r.latency.meanMs,
  }));
  const x = { field: "instances", type: "quantitative", scale: { type: "log" }, title: "instances" } as const;
  const color = { ...VARIANT_COLOR, legend: { ...VARIANT_COLOR.legend, values: [...VARIANT_COLOR.scale.domain] } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Least connections against an oracle",
    config: CONFIG,
    data: { values: rows },
    hconcat: [
      {
        width: 300,
        height: HEIGHT,
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "cv", type: "quantitative", title: "in-flight imbalance (CV across backends)" },
          color,
        },
      },
      {
        width: 300,
        height: HEIGHT,
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "meanMs", type: "quantitative", title: "mean request latency (ms)", scale: { zero: false } },
          color,
        },
      },
    ],
  };
}

function batchChart(results: readonly SimResult[]): TopLevelSpec {
  const rows = results.map((r) => ({
    batch: r.scenario.sequenceBatch,
    cv: 100 * r.fairness.meanCv,
    perRequest: r.storeCallsPerRequest,
  }));
  const x = { field: "batch", type: "quantitative", scale: { type: "log", base: 2 }, title: "SEQUENCE_BATCH" } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "SEQUENCE_BATCH (30 instances, 1,000 req/s)",
    config: CONFIG,
    data: { values: rows },
    hconcat: [
      {
        width: 300,
        height: HEIGHT,
        mark: { type: "line", point: true },
        encoding: { x, y: { field: "cv", type: "quantitative", title: "fairness CV per 10 s window (%)" } },
      },
      {
        width: 300,
        height: HEIGHT,
        mark: { type: "line", point: true },
        encoding: { x, y: { field: "perRequest", type: "quantitative", title: "store calls per request" } },
      },
    ],
  };
}

function storeLatencyChart(results: readonly SimResult[]): TopLevelSpec {
  const rows = results.map((r) => ({
    medianMs: r.scenario.storeLatency.medianMs,
    cv: 100 * r.fairness.meanCv,
    perRequest: r.storeCallsPerRequest,
    meanMs: r.latency.meanMs,
  }));
  const x = {
    field: "medianMs",
    type: "quantitative",
    scale: { type: "log" },
    title: "store round trip, median (ms)",
  } as const;
  const panel = (field: string, title: string) => ({
    width: 200,
    height: HEIGHT,
    mark: { type: "line", point: true },
    encoding: { x, y: { field, type: "quantitative", title } },
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Store latency (30 instances, 1,000 req/s; calls slower than 200 ms fall back to local positions)",
    config: CONFIG,
    data: { values: rows },
    hconcat: [
      panel("cv", "fairness CV per 10 s window (%)"),
      panel("perRequest", "store calls per request"),
      panel("meanMs", "mean request latency (ms)"),
    ],
  } as TopLevelSpec;
}

function spikeChart(results: readonly SimResult[]): TopLevelSpec {
  const rows = results.flatMap((r) => r.storeCallSeries.map((calls, s) => ({ s, calls, variant: variantOf(r) })));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Store calls per second through a spike from 200 to 2,000 req/s (1,000 instances)",
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: rows },
    mark: { type: "line" },
    encoding: {
      x: { field: "s", type: "quantitative", title: "seconds since the start" },
      y: { field: "calls", type: "quantitative", title: "store calls per second" },
      color: VARIANT_COLOR,
    },
  };
}
