// `npm run bench -- --compare FILE`: each row's change against an earlier results JSON (req/s,
// CPU µs/req, p99), rows only in one run listed as new or gone. The diff is a pure function of
// the two documents; run alone, this file compares two saved runs:
//
//   npx tsx scripts/bench/compare.ts bench/results/OLD.json bench/results/NEW.json

import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { DASH, table } from "./cells.ts";

/** The parts of a results JSON (report.ts's BenchResults, any version so far) that are compared. */
export interface ComparableRun {
  readonly mode: string;
  readonly startedAt: string;
  readonly rows: readonly {
    readonly id: string;
    readonly rps: number;
    readonly cpuUsPerRequest: number | null;
    readonly p99Ms: number;
    readonly failed?: string;
  }[];
  readonly coldStarts?: readonly { readonly id: string; readonly firstResponseMs: number; readonly failed?: string }[];
  readonly bundle?: { readonly entryBytes: number; readonly totalBytes: number };
}

export interface Change {
  readonly before: number | null;
  readonly after: number | null;
  /** after − before; null unless both are numbers. */
  readonly delta: number | null;
  /** The change in % of before; null unless both are numbers and before is not 0. */
  readonly percent: number | null;
}

export interface RowChange {
  readonly id: string;
  readonly rps: Change;
  readonly cpuUsPerRequest: Change;
  readonly p99Ms: Change;
  /** Set when the row failed in one of the runs (its numbers there are null). */
  readonly failedIn?: "before" | "after" | "both";
}

export interface Comparison {
  readonly before: { readonly mode: string; readonly startedAt: string };
  readonly after: { readonly mode: string; readonly startedAt: string };
  /** Rows in both runs, in the new run's order. */
  readonly rows: readonly RowChange[];
  /** Row ids only in the new run, and only in the old one. */
  readonly added: readonly string[];
  readonly gone: readonly string[];
  /** Cold start to first response, ms, for the ids in both runs (absent unless both measured it). */
  readonly coldStarts: readonly { readonly id: string; readonly firstResponseMs: Change }[];
  readonly bundleEntryBytes?: Change;
}

export function change(before: number | null | undefined, after: number | null | undefined): Change {
  const b = before ?? null;
  const a = after ?? null;
  const delta = a !== null && b !== null ? a - b : null;
  return { before: b, after: a, delta, percent: delta !== null && b ? (100 * delta) / b : null };
}

export function compareRuns(before: ComparableRun, after: ComparableRun): Comparison {
  const old = new Map(before.rows.map((row) => [row.id, row]));
  const current = new Set(after.rows.map((row) => row.id));
  const rows: RowChange[] = [];
  const added: string[] = [];
  for (const row of after.rows) {
    const was = old.get(row.id);
    if (!was) {
      added.push(row.id);
      continue;
    }
    const failedIn = was.failed ? (row.failed ? "both" : "before") : row.failed ? "after" : undefined;
    const value = <T>(r: typeof row, v: T) => (r.failed ? null : v);
    rows.push({
      id: row.id,
      rps: change(value(was, was.rps), value(row, row.rps)),
      cpuUsPerRequest: change(value(was, was.cpuUsPerRequest), value(row, row.cpuUsPerRequest)),
      p99Ms: change(value(was, was.p99Ms), value(row, row.p99Ms)),
      ...(failedIn ? { failedIn } : {}),
    });
  }
  const gone = before.rows.filter((row) => !current.has(row.id)).map((row) => row.id);
  const oldStarts = new Map((before.coldStarts ?? []).filter((c) => !c.failed).map((c) => [c.id, c]));
  const coldStarts = (after.coldStarts ?? [])
    .filter((c) => !c.failed && oldStarts.has(c.id))
    .map((c) => ({ id: c.id, firstResponseMs: change(oldStarts.get(c.id)!.firstResponseMs, c.firstResponseMs) }));
  return {
    before: { mode: before.mode, startedAt: before.startedAt },
    after: { mode: after.mode, startedAt: after.startedAt },
    rows,
    added,
    gone,
    coldStarts,
    ...(before.bundle && after.bundle
      ? { bundleEntryBytes: change(before.bundle.entryBytes, after.bundle.entryBytes) }
      : {}),
  };
}

export const COMPARE_HEADING = "## Compared with an earlier run";
export const COMPARE_COLUMNS = ["row", "req/s", "CPU µs/req", "p99 ms", "note"] as const;

const signed = (n: number, digits: number) => `${n >= 0 ? "+" : "−"}${Math.abs(n).toFixed(digits)}`;

/** "before → after (+delta, +percent%)", or a dash where a side has no number. */
export function changeCell(c: Change, digits: number): string {
  if (c.before === null || c.after === null) {
    return `${c.before === null ? DASH : c.before.toFixed(digits)} → ${c.after === null ? DASH : c.after.toFixed(digits)}`;
  }
  const percent = c.percent === null ? "" : `, ${signed(c.percent, 1)}%`;
  return `${c.before.toFixed(digits)} → ${c.after.toFixed(digits)} (${signed(c.delta!, digits)}${percent})`;
}

export function comparisonMarkdown(comparison: Comparison, file: string): string[] {
  const { before, after } = comparison;
  const lines = [
    COMPARE_HEADING,
    "",
    `Against \`${file}\` (${before.mode} run of ${before.startedAt}); this ${after.mode} run of ${after.startedAt}. ` +
      "Each cell: earlier → now (absolute change, % change). Runs of different modes or on a busy machine differ by more than the code does.",
    "",
    table(
      COMPARE_COLUMNS,
      comparison.rows.map((r) => [
        r.id,
        changeCell(r.rps, 0),
        changeCell(r.cpuUsPerRequest, 0),
        changeCell(r.p99Ms, 2),
        r.failedIn ? `failed ${r.failedIn === "both" ? "in both runs" : r.failedIn}` : "",
      ]),
      1,
      4,
    ),
    "",
  ];
  if (comparison.added.length) lines.push(`New rows (not in the earlier run): ${comparison.added.join(", ")}.`, "");
  if (comparison.gone.length) lines.push(`Gone rows (only in the earlier run): ${comparison.gone.join(", ")}.`, "");
  if (comparison.coldStarts.length) {
    const starts = comparison.coldStarts.map((c) => `${c.id} ${changeCell(c.firstResponseMs, 1)}`);
    lines.push(`Cold start to first response, ms: ${starts.join("; ")}.`, "");
  }
  if (comparison.bundleEntryBytes)
    lines.push(`Minified Worker entry module, bytes: ${changeCell(comparison.bundleEntryBytes, 0)}.`, "");
  return lines;
}

export function readRun(file: string): ComparableRun {
  const run = JSON.parse(readFileSync(file, "utf8")) as ComparableRun;
  if (!Array.isArray(run.rows) || typeof run.startedAt !== "string")
    throw new Error(`${file} is not a bench results JSON (no rows or startedAt)`);
  return run;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [before, after] = process.argv.slice(2);
  if (!before || !after) {
    console.error("usage: npx tsx scripts/bench/compare.ts EARLIER.json LATER.json");
    process.exit(2);
  }
  console.log(comparisonMarkdown(compareRuns(readRun(before), readRun(after)), before).join("\n"));
}
