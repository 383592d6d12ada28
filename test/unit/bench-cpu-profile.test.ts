// The bench's CPU profile reading (scripts/bench/cpu-profile.ts): self time per function from a
// .cpuprofile's samples, idle left out, a window by the profile's clock, bundle lines named by
// their source module.
import { describe, expect, it } from "vitest";
import { bundleModules, type CpuProfile, hottestFunctions } from "../../scripts/bench/cpu-profile.ts";

const frame = (functionName: string, url = "", lineNumber = -1) => ({ functionName, url, lineNumber });

/** Node 1 is the root; samples name nodes 2..; every gap is 1 ms unless given. */
function profile(samples: number[], gaps?: number[]): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("forward", "file:///repo/src/proxy/forward.ts", 41) },
      { id: 4, callFrame: frame("copyHeaders", "file:///repo/node_modules/hono/dist/utils.js", 9) },
      { id: 5, callFrame: frame("(garbage collector)") },
      { id: 6, callFrame: frame("", "file:///repo/src/app.ts", 0) },
      // The same function reached by another path: another node, the same function.
      { id: 7, callFrame: frame("forward", "file:///repo/src/proxy/forward.ts", 41) },
    ],
    startTime: 1_000_000,
    endTime: 1_000_000 + (gaps ?? samples.map(() => 1000)).reduce((a, b) => a + b, 0),
    samples,
    timeDeltas: gaps ?? samples.map(() => 1000),
  };
}

describe("hottestFunctions", () => {
  it("counts self samples per function (name and place), leaves idle out, largest first", () => {
    const summary = hottestFunctions(profile([3, 3, 7, 4, 4, 2, 2, 2, 2, 5, 6, 3]));
    expect(summary.samples).toBe(8);
    expect(summary.busyMs).toBe(8);
    expect(summary.top).toEqual([
      { name: "forward", location: "/repo/src/proxy/forward.ts:42", selfMs: 4, percent: 50 },
      { name: "copyHeaders", location: "hono/dist/utils.js:10", selfMs: 2, percent: 25 },
      { name: "(anonymous)", location: "/repo/src/app.ts:1", selfMs: 1, percent: 12.5 },
      { name: "(garbage collector)", location: "", selfMs: 1, percent: 12.5 },
    ]);
  });

  it("keeps the first `count` functions", () => {
    expect(hottestFunctions(profile([3, 4, 5, 6]), { count: 2 }).top).toHaveLength(2);
  });

  it("credits each sample one sampling interval, not the gap after it (a descheduled process)", () => {
    // forward's sample is followed by a 50 ms gap: the process waited, forward did not run 50 ms.
    const summary = hottestFunctions(profile([3, 4, 4], [1000, 50_000, 1000]), { intervalUs: 1000 });
    expect(summary.top.map((f) => [f.name, f.selfMs])).toEqual([
      ["copyHeaders", 2],
      ["forward", 1],
    ]);
  });

  it("counts only the samples taken from `fromUs` on (the profile's clock)", () => {
    // Samples at 1.001, 1.002, 1.003, 1.004 s: from 1.003 s on, two of them.
    const summary = hottestFunctions(profile([4, 4, 3, 3]), { fromUs: 1_003_000 });
    expect(summary.samples).toBe(2);
    expect(summary.top.map((f) => f.name)).toEqual(["forward"]);
  });

  it("counts the profiler's own frames apart, out of the shares", () => {
    const summary = hottestFunctions(profile([3, 4, 4, 4]), { overhead: (f) => f.functionName === "copyHeaders" });
    expect(summary.overheadSamples).toBe(3);
    expect(summary.samples).toBe(1);
    expect(summary.top).toEqual([
      { name: "forward", location: "/repo/src/proxy/forward.ts:42", selfMs: 1, percent: 100 },
    ]);
  });

  it("names places through `locate` when given", () => {
    const summary = hottestFunctions(profile([3]), { locate: (url, line) => `${url.split("/").pop()} @${line}` });
    expect(summary.top[0]!.location).toBe("forward.ts @42");
  });
});

describe("bundleModules", () => {
  it("names the source module of a line in an unminified esbuild bundle", () => {
    const bundle = [
      "import x from 'node:fs';",
      "",
      "// ../main/node_modules/hono/dist/index.js",
      "var a = 1;",
      "// src/proxy/forward.ts",
      "function forward() {",
      "  // not a module: indented",
      "}",
    ].join("\n");
    const moduleOf = bundleModules(bundle);
    expect(moduleOf(1)).toBeUndefined();
    expect(moduleOf(4)).toBe("hono/dist/index.js");
    expect(moduleOf(5)).toBe("src/proxy/forward.ts");
    expect(moduleOf(8)).toBe("src/proxy/forward.ts");
  });
});
