// The bench's side-by-side pairs (scripts/bench/paired-rows.ts): which rows pair up, the median
// that judges them, and the target lines they make.
import { describe, expect, it } from "vitest";
import { median, pairsOf, pairTargets, type RowPair } from "../../scripts/bench/paired-rows.ts";
import { balancerRow, JSON_LOG_SUFFIX, routedRow, runtimeRows } from "../../scripts/bench/targets.ts";

const side = (id: string, requests: number, cpuUs: number) => ({ id, requests, seconds: 10, cpuUs, userUs: cpuUs });

function pair(kind: RowPair["kind"], blocks: { rps: number; cpu: number }[]): RowPair {
  const rpsRatio = median(blocks.map((b) => b.rps));
  const cpuRatio = median(blocks.map((b) => b.cpu));
  return {
    runtime: "node",
    kind,
    base: side("node-rr-memory", 100_000, 100),
    variant: side(`node-rr-memory-${kind}`, 100_000 * rpsRatio, 100 * cpuRatio),
    blocks,
    rpsRatio,
    cpuRatio,
    addedUs: (cpuRatio - 1) * 100,
    processes: 2,
    turns: blocks.length * 4,
    turnS: 1,
    pinned: true,
  };
}

describe("side-by-side pairs", () => {
  it("pairs each feature row with its runtime's plain round-robin row", () => {
    const plan = runtimeRows("node", { upstash: false });
    const found = pairsOf(plan).map(({ kind, base, variant }) => `${kind} ${base.id} ${variant.id}`);
    expect(found).toEqual([
      "routes node-rr-memory node-rr-memory-routes",
      "json node-rr-memory node-rr-memory-json",
      "log node-rr-memory node-rr-memory-log",
    ]);
  });

  it("pairs nothing whose base row is not in the plan", () => {
    const plain = balancerRow("bun", "round-robin", "memory");
    expect(pairsOf([routedRow("bun"), { ...plain, id: `${plain.id}${JSON_LOG_SUFFIX}`, jsonLog: true }])).toEqual([]);
  });

  it("takes the median, which one slow block does not move", () => {
    expect(median([1.02, 1.01, 3.5, 1.03])).toBeCloseTo(1.025, 10);
    expect(median([0.9, 1.1, 1.0])).toBe(1.0);
    expect(median([Number.NaN, 2])).toBe(2);
    expect(median([])).toBeNaN();
  });

  it("judges routing by CPU added and logging by req/s, on the blocks' medians", () => {
    const [routes, json] = pairTargets([
      pair("routes", [
        { rps: 0.97, cpu: 1.04 },
        { rps: 0.99, cpu: 1.045 },
        { rps: 0.5, cpu: 1.9 },
      ]),
      pair("json", [
        { rps: 0.91, cpu: 1.08 },
        { rps: 0.89, cpu: 1.1 },
        { rps: 0.95, cpu: 1.3 },
      ]),
    ]);
    expect(routes).toMatchObject({ met: true });
    expect(routes!.value).toContain("+4.5 µs");
    expect(json).toMatchObject({ met: true });
    expect(json!.value).toMatch(/^0\.910 ×/);
    const [slow] = pairTargets([
      pair("log", [
        { rps: 0.85, cpu: 1.1 },
        { rps: 0.88, cpu: 1.1 },
      ]),
    ]);
    expect(slow).toMatchObject({ met: false });
    expect(slow!.target).toContain("request log line");
  });
});
