// Cold start: how long a fresh server takes from being started to its first successful response,
// bare proxy beside the balancer (round robin on memory) in each runtime, and what the first
// request costs in CPU. workerd parses and evaluates the whole Worker bundle before it serves;
// the balancer reads its configuration on the first request. Each is started a few times and
// the median is reported.

import { readdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { DASH, table } from "./cells.ts";
import { descendants, sleep } from "./processes.ts";
import type { TargetCheck } from "./report.ts";
import { type BenchEnv, balancerRow, type RowSpec, type Runtime, spawnRow } from "./targets.ts";

export interface ColdStart {
  /** "<runtime>-bare" or "<runtime>-rr-memory". */
  readonly id: string;
  readonly runtime: string;
  readonly what: string;
  readonly runs: number;
  /** Median ms from starting the process to the first successful response. */
  readonly firstResponseMs: number;
  /** Median ms from the port accepting connections to the first successful response. */
  readonly firstRequestMs: number;
  /** Median CPU ms of the process tree from its port accepting to after the first response. */
  readonly firstRequestCpuMs: number;
  /** Median CPU ms of the process tree from its start to after the first response. */
  readonly startCpuMs: number;
  readonly failed?: string;
}

export const COLD_START_HEADING = "## Cold start";
/** Issue 14: the balancer's cold start within 1.5 × the bare proxy's. */
const TARGET_RATIO = 1.5;

export function coldStartRuns(mode: "full" | "quick" | "tiny"): number {
  return mode === "full" ? 5 : mode === "quick" ? 2 : 1;
}

/** The bare proxy's row and the balancer's (round robin, memory store) for a runtime. */
export function coldStartRows(runtime: Runtime): RowSpec[] {
  return [
    { id: `${runtime}-bare`, runtime, kind: "bare", what: "bare fetch proxy (1 upstream)" },
    balancerRow(runtime, "round-robin", "memory"),
  ];
}

/** Every runtime's bare proxy and balancer, `runs` starts each, with a progress line per server. */
export async function runColdStarts(
  runtimes: readonly Runtime[],
  env: BenchEnv,
  runs: number,
  log: (line: string) => void,
  notes: string[],
): Promise<ColdStart[]> {
  log(`cold starts (${runs} per server, median):`);
  const coldStarts: ColdStart[] = [];
  for (const row of runtimes.flatMap(coldStartRows)) {
    const cold = await measureColdStart(row, env, runs);
    coldStarts.push(cold);
    log(
      `  ${row.id.padEnd(26)} ` +
        (cold.failed
          ? `FAILED: ${cold.failed.split("\n")[0]}`
          : `${cold.firstResponseMs.toFixed(1)} ms to first response, first request ${cold.firstRequestMs.toFixed(1)} ms, ${cold.firstRequestCpuMs.toFixed(1)} ms CPU`),
    );
    if (cold.failed) notes.push(`${row.id} cold start failed: ${cold.failed.split("\n")[0]}`);
  }
  return coldStarts;
}

export async function measureColdStart(row: RowSpec, env: BenchEnv, runs: number): Promise<ColdStart> {
  const samples: Array<{ total: number; request: number; requestCpu: number; startCpu: number }> = [];
  const base = { id: row.id, runtime: row.runtime, what: row.what, runs };
  try {
    for (let i = 0; i < runs; i++) samples.push(await oneColdStart(row, env));
  } catch (error) {
    return {
      ...base,
      firstResponseMs: 0,
      firstRequestMs: 0,
      firstRequestCpuMs: 0,
      startCpuMs: 0,
      failed: (error as Error).message,
    };
  }
  return {
    ...base,
    firstResponseMs: median(samples.map((s) => s.total)),
    firstRequestMs: median(samples.map((s) => s.request)),
    firstRequestCpuMs: median(samples.map((s) => s.requestCpu)),
    startCpuMs: median(samples.map((s) => s.startCpu)),
  };
}

async function oneColdStart(row: RowSpec, env: BenchEnv) {
  const started = performance.now();
  const { proc, url } = await spawnRow(row, env);
  try {
    const { port } = new URL(url);
    const deadline = Date.now() + 30_000;
    while (!(await accepts(Number(port)))) {
      if (!proc.running) throw new Error(`${row.id} exited before it listened:\n${proc.output().trim()}`);
      if (Date.now() > deadline) throw new Error(`${row.id} did not listen in time:\n${proc.output().trim()}`);
      await sleep(2);
    }
    const accepting = performance.now();
    const cpuAccepting = cpuNs(proc.pid);
    // The first successful (2xx) response: a server that accepts before it can answer may fail first.
    for (;;) {
      const status = await get(url).catch(() => 0);
      if (status >= 200 && status < 300) break;
      if (!proc.running || Date.now() > deadline)
        throw new Error(`${row.id} gave no 2xx answer (last: ${status}):\n${proc.output().trim()}`);
      await sleep(2);
    }
    const answered = performance.now();
    const cpuAnswered = cpuNs(proc.pid);
    return {
      total: answered - started,
      request: answered - accepting,
      requestCpu: (cpuAnswered - cpuAccepting) / 1e6,
      startCpu: cpuAnswered / 1e6,
    };
  } finally {
    await proc.stop();
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** One GET on a fresh connection; resolves with the status once the body has arrived. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      response.once("end", () => resolve(response.statusCode ?? 0));
      response.once("error", reject);
    });
    req.once("timeout", () => req.destroy(new Error("timed out")));
    req.once("error", reject);
    req.end();
  });
}

/**
 * CPU time (ns) the process tree has run so far, from the scheduler's per-thread accounting
 * (/proc/PID/task/TID/schedstat, nanoseconds, where /proc/PID/stat counts 10 ms ticks); threads
 * that already exited are not counted.
 */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        total += Number(readFileSync(`/proc/${p}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // exited
      }
    }
  }
  return total;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function coldStartTargets(coldStarts: readonly ColdStart[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const balancer of coldStarts.filter((c) => !c.failed && !c.id.endsWith("-bare"))) {
    const bare = coldStarts.find((c) => c.id === `${balancer.runtime}-bare` && !c.failed);
    if (!bare) continue;
    const ratio = balancer.firstResponseMs / bare.firstResponseMs;
    checks.push({
      target: `${balancer.runtime}: cold start to first response within ${TARGET_RATIO} × the bare proxy's`,
      value: `${ratio.toFixed(2)} × (${balancer.firstResponseMs.toFixed(1)} against ${bare.firstResponseMs.toFixed(1)} ms; first request's CPU ${balancer.firstRequestCpuMs.toFixed(1)} against ${bare.firstRequestCpuMs.toFixed(1)} ms)`,
      met: ratio <= TARGET_RATIO,
    });
  }
  return checks;
}

export const COLD_START_COLUMNS = [
  "row",
  "runtime",
  "what",
  "starts",
  "start → first response ms",
  "first request ms",
  "first request CPU ms",
  "start CPU ms",
  "÷ bare",
] as const;

export function coldStartMarkdown(coldStarts: readonly ColdStart[]): string[] {
  if (!coldStarts.length) return [];
  const rows = coldStarts.map((c) => {
    if (c.failed)
      return [c.id, c.runtime, c.what, String(c.runs), `failed: ${c.failed.replace(/\|/g, "/").split("\n")[0]}`]
        .concat(Array(4).fill(DASH))
        .slice(0, COLD_START_COLUMNS.length);
    const bare = coldStarts.find((b) => b.id === `${c.runtime}-bare` && !b.failed);
    const ratio = bare && bare !== c ? (c.firstResponseMs / bare.firstResponseMs).toFixed(2) : DASH;
    return [
      c.id,
      c.runtime,
      c.what,
      String(c.runs),
      c.firstResponseMs.toFixed(1),
      c.firstRequestMs.toFixed(1),
      c.firstRequestCpuMs.toFixed(1),
      c.startCpuMs.toFixed(1),
      ratio,
    ];
  });
  return [
    COLD_START_HEADING,
    "",
    "Each server started afresh (median of the starts shown): start → first response = from spawning the process " +
      "(workerd from the bench's generated config; the balancer with round robin on memory) to the end of the first 2xx " +
      "response to `GET /` through it; first request = from its port first accepting a connection to that response. " +
      "CPU = the process tree's on-CPU time from the kernel's per-thread schedstat (ns resolution): first request CPU " +
      "from the port accepting to after the response, start CPU from the start. ÷ bare = start → first response against " +
      "the same runtime's bare proxy.",
    "",
    table(COLD_START_COLUMNS, rows, 3),
    "",
  ];
}
