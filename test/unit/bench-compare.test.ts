// The bench's --compare diff (scripts/bench/compare.ts): each row's change in req/s, CPU µs/req
// and p99 against an earlier run, rows in one run only listed as new or gone.
import { describe, expect, it } from "vitest";
import {
  type ComparableRun,
  change,
  changeCell,
  compareRuns,
  comparisonMarkdown,
} from "../../scripts/bench/compare.ts";

const row = (id: string, rps: number, cpuUsPerRequest: number | null, p99Ms: number, failed?: string) => ({
  id,
  rps,
  cpuUsPerRequest,
  p99Ms,
  ...(failed ? { failed } : {}),
});

const before: ComparableRun = {
  mode: "full",
  startedAt: "2026-12-01T10:00:00.000Z",
  rows: [
    row("direct", 40_000, null, 1.5),
    row("node-bare", 5_000, 200, 10),
    row("node-rr-memory", 3_000, 350, 20),
    row("node-lc-memory", 2_000, 400, 30),
    row("bun-rr-memory", 10_000, 50, 5),
  ],
  coldStarts: [{ id: "workerd-bare", firstResponseMs: 100 }],
  bundle: { entryBytes: 600_000, totalBytes: 600_000 },
};

const after: ComparableRun = {
  mode: "full",
  startedAt: "2026-12-02T10:00:00.000Z",
  rows: [
    row("direct", 40_000, null, 1.5),
    row("node-bare", 5_500, 180, 9),
    row("node-rr-memory", 4_500, 280, 12),
    row("node-lc-memory", 0, null, 0, "no request completed"),
    row("node-rr-memory-json", 4_000, 300, 14),
  ],
  coldStarts: [
    { id: "workerd-bare", firstResponseMs: 90 },
    { id: "workerd-rr-memory", firstResponseMs: 120 },
  ],
  bundle: { entryBytes: 120_000, totalBytes: 300_000 },
};

describe("compareRuns", () => {
  const comparison = compareRuns(before, after);

  it("gives each row in both runs its absolute and relative change, in the new run's order", () => {
    expect(comparison.rows.map((r) => r.id)).toEqual(["direct", "node-bare", "node-rr-memory", "node-lc-memory"]);
    const rr = comparison.rows.find((r) => r.id === "node-rr-memory")!;
    expect(rr.rps).toEqual({ before: 3_000, after: 4_500, delta: 1_500, percent: 50 });
    expect(rr.cpuUsPerRequest).toEqual({ before: 350, after: 280, delta: -70, percent: -20 });
    expect(rr.p99Ms).toEqual({ before: 20, after: 12, delta: -8, percent: -40 });
    expect(rr.failedIn).toBeUndefined();
  });

  it("has no CPU change where a run has no CPU figure (the direct row)", () => {
    const direct = comparison.rows.find((r) => r.id === "direct")!;
    expect(direct.cpuUsPerRequest).toEqual({ before: null, after: null, delta: null, percent: null });
    expect(direct.rps).toEqual({ before: 40_000, after: 40_000, delta: 0, percent: 0 });
  });

  it("keeps a row that failed in one run, without numbers on that side", () => {
    const lc = comparison.rows.find((r) => r.id === "node-lc-memory")!;
    expect(lc.failedIn).toBe("after");
    expect(lc.rps).toEqual({ before: 2_000, after: null, delta: null, percent: null });
    expect(lc.p99Ms.after).toBeNull();
  });

  it("lists rows only in the new run as new and rows only in the earlier one as gone", () => {
    expect(comparison.added).toEqual(["node-rr-memory-json"]);
    expect(comparison.gone).toEqual(["bun-rr-memory"]);
  });

  it("compares cold starts present in both runs and the Worker bundle's entry module", () => {
    expect(comparison.coldStarts).toEqual([
      { id: "workerd-bare", firstResponseMs: { before: 100, after: 90, delta: -10, percent: -10 } },
    ]);
    expect(comparison.bundleEntryBytes).toEqual({ before: 600_000, after: 120_000, delta: -480_000, percent: -80 });
  });

  it("reads an earlier run without cold starts or bundle (results written before they existed)", () => {
    const old = compareRuns({ mode: "quick", startedAt: "x", rows: before.rows }, after);
    expect(old.coldStarts).toEqual([]);
    expect(old.bundleEntryBytes).toBeUndefined();
  });
});

describe("the comparison's Markdown", () => {
  it("shows before → after with the signed absolute and % change", () => {
    expect(changeCell(change(3_000, 4_500), 0)).toBe("3000 → 4500 (+1500, +50.0%)");
    expect(changeCell(change(20, 12), 2)).toBe("20.00 → 12.00 (−8.00, −40.0%)");
    expect(changeCell(change(null, 12), 2)).toBe("— → 12.00");
    expect(changeCell(change(0, 5), 0)).toBe("0 → 5 (+5)");
  });

  it("has a row per compared row and names the new and gone rows", () => {
    const markdown = comparisonMarkdown(compareRuns(before, after), "bench/results/old.json").join("\n");
    expect(markdown).toContain("`bench/results/old.json`");
    expect(markdown).toContain(
      "| node-rr-memory | 3000 → 4500 (+1500, +50.0%) | 350 → 280 (−70, −20.0%) | 20.00 → 12.00 (−8.00, −40.0%) |  |",
    );
    expect(markdown).toContain("| node-lc-memory | 2000 → — | 400 → — | 30.00 → — | failed after |");
    expect(markdown).toContain("New rows (not in the earlier run): node-rr-memory-json.");
    expect(markdown).toContain("Gone rows (only in the earlier run): bun-rr-memory.");
  });
});
