// `npm run bench` in its tiny mode (a few hundred requests per row): every row that this machine
// can run produces numbers, WebSocket echo rows included, the JSON and the Markdown tables agree,
// and no server outlives it.
// Rows that need something beyond `npm install` (nginx, HAProxy, redis-server) run only where
// installed; the workerd and Node rows always run.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE_HEADING } from "../../scripts/bench/bundle-size.ts";
import { COLD_START_HEADING } from "../../scripts/bench/cold-start.ts";
import { PICK_SIZES } from "../../scripts/bench/picks.ts";
import {
  type BenchResults,
  PICK_COLUMNS,
  PICKS_HEADING,
  parseCell,
  parseTable,
  pickRows,
  ROW_COLUMNS,
  ROWS_HEADING,
  rowCells,
} from "../../scripts/bench/report.ts";
import { findBinary } from "../../scripts/bench/targets.ts";
import { WEBSOCKET_COLUMNS, WEBSOCKET_HEADING, webSocketCells } from "../../scripts/bench/websocket-report.ts";
import { redisServerAvailable } from "../../scripts/redis-local.ts";
import { ALGORITHM_NAMES } from "../../src/balancer/registry.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Run {
  code: number | null;
  output: string;
  elapsedMs: number;
}

function runTinyBench(outDir: string, pidLog: string): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "scripts", "bench", "run.ts"), "--tiny", `--out=${outDir}`],
      {
        cwd: ROOT,
        env: { ...process.env, BENCH_PID_LOG: pidLog },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGINT"), 90_000);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, output, elapsedMs: Date.now() - started });
    });
  });
}

/** Process ids whose process group is `pgid` (a started server or anything it left behind). */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields[0] is the state, fields[2] the process group; a zombie is already gone.
      if (Number(fields[2]) === pgid && fields[0] !== "Z") members.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return members;
}

describe("npm run bench -- --tiny", () => {
  let dir: string;
  let run: Run;
  let results: BenchResults;
  let markdown: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-lb-bench-test-"));
    run = await runTinyBench(join(dir, "results"), join(dir, "pids.log"));
    if (run.code !== 0) throw new Error(`the bench exited with ${run.code}:\n${run.output}`);
    results = JSON.parse(readFileSync(join(dir, "results", "latest-tiny.json"), "utf8")) as BenchResults;
    markdown = readFileSync(join(dir, "results", "latest-tiny.md"), "utf8");
  }, 100_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("finishes quickly and writes the latest files and a timestamped copy of each", () => {
    // About 30 rows of 300 requests, 5 WebSocket rows of 200 messages and a cold start of the bare
    // proxy and the balancer per runtime, each with its server's start, on a 2-core machine that
    // runs another test file beside this one: well under the full run's minutes.
    expect(run.elapsedMs).toBeLessThan(85_000);
    const files = readdirSync(join(dir, "results"));
    expect(files).toContain("latest-tiny.md");
    expect(files).toContain("latest-tiny.json");
    expect(files.filter((f) => /^\d{4}-\d\d-\d\dT.*-tiny\.(md|json)$/.test(f))).toHaveLength(2);
    // The Markdown is also what the bench prints.
    expect(run.output).toContain(ROWS_HEADING);
    expect(run.output).toContain(WEBSOCKET_HEADING);
  });

  /** Bun and Deno run when their entry point exists and their binary answers. */
  const extraRuntimes = () =>
    (["bun", "deno"] as const).filter(
      (runtime) =>
        existsSync(join(ROOT, "src", "runtime", `${runtime}.ts`)) &&
        existsSync(join(ROOT, "node_modules", ".bin", runtime)) &&
        results.machine.versions[runtime === "bun" ? "Bun" : "Deno"] !== undefined,
    );

  it("runs every row this machine supports: workerd and Node always", () => {
    const ids = results.rows.map((r) => r.id);
    const expected = [
      "direct",
      "workerd-bare",
      "workerd-rr-memory",
      "workerd-rr-memory-routes",
      "workerd-iphash-memory",
      "workerd-lc-memory",
      "workerd-rr-do",
      "workerd-rr-memory-json",
      "node-bare",
      "node-rr-memory",
      "node-rr-memory-routes",
      "node-rr-memory-json",
      "node-iphash-memory",
      "node-lc-memory",
    ];
    const upstash = redisServerAvailable();
    if (upstash) expected.push("workerd-rr-upstash", "node-rr-upstash");
    if (upstash) expected.push("workerd-rr-upstash-header", "node-rr-upstash-header");
    if (findBinary("nginx")) expected.push("nginx");
    if (findBinary("haproxy")) expected.push("haproxy");
    for (const runtime of extraRuntimes()) {
      expected.push(`${runtime}-bare`, `${runtime}-rr-memory`, `${runtime}-rr-memory-json`);
      if (upstash) expected.push(`${runtime}-rr-upstash`, `${runtime}-rr-upstash-header`);
    }
    expect(ids).toEqual(expect.arrayContaining(expected));
    // Anything skipped says why.
    if (!findBinary("nginx")) expect(results.notes.join("\n")).toMatch(/nginx is not installed.*apt-get install/);
  });

  it("gives every row numbers", () => {
    expect(results.mode).toBe("tiny");
    expect(results.load.requests).toBeGreaterThanOrEqual(100);
    expect(results.load.requests).toBeLessThanOrEqual(1000);
    for (const row of results.rows) {
      const label = `${row.id}: ${JSON.stringify(row)}`;
      expect(row.failed, label).toBeUndefined();
      expect(row.requests, label).toBe(results.load.requests);
      expect(row.errors, label).toBe(0);
      expect(row.rps, label).toBeGreaterThan(0);
      expect(Number.isFinite(row.p50Ms) && row.p50Ms > 0, label).toBe(true);
      expect(Number.isFinite(row.p99Ms) && row.p99Ms >= row.p50Ms, label).toBe(true);
      if (row.id === "direct") continue;
      expect(row.peakRssMiB, label).toBeGreaterThan(0);
      expect(row.cpuUsPerRequest, label).not.toBeNull();
      expect(row.vsNginx === null || row.vsNginx > 0, label).toBe(true);
      if (row.id.endsWith("-bare") || row.id === "nginx" || row.id === "haproxy") continue;
      // edge-lb rows: store round trips, ratio and added latency against the same runtime's bare proxy.
      expect(row.storeRoundTripsPerRequest, label).toBeGreaterThanOrEqual(0);
      expect(row.storeRoundTripsPerRequest, label).toBeLessThan(1);
      expect(row.vsBare, label).toBeGreaterThan(0);
      expect(Number.isFinite(row.p99OverBareMs), label).toBe(true);
      // Session claims are store round trips too; only header-affinity rows make any.
      expect(row.sessionClaimsPerRequest, label).toBeGreaterThanOrEqual(0);
      expect(row.sessionClaimsPerRequest!, label).toBeLessThanOrEqual(row.storeRoundTripsPerRequest! + 1e-9);
      if (row.sessions === null) {
        expect(row.sessionClaimsPerRequest, label).toBe(0);
        expect(row.sessionClaimsSinceStart, label).toBe(0);
      }
    }
    expect(results.picks).toHaveLength(ALGORITHM_NAMES.length * PICK_SIZES.length);
    // Routing's own cost, measured in a bundled node process: ten routes cost more than none.
    expect(results.routing!.onePoolUs).toBeGreaterThan(0);
    expect(results.routing!.tenRoutesUs).toBeGreaterThan(results.routing!.onePoolUs);
    expect(results.targets.map((t) => t.target).join("\n")).toMatch(/routing with 10 routes and 3 pools adds/);
    for (const pick of results.picks) expect(pick.picksPerSecond).toBeGreaterThan(0);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.cpu).not.toBe("");
    expect(results.targets.length).toBeGreaterThan(0);
  });

  it("measures header affinity's store cost: at most one claim per session on each (single) instance", () => {
    const rows = results.rows.filter((r) => r.id.endsWith("-rr-upstash-header"));
    if (!redisServerAvailable()) {
      expect(rows).toEqual([]);
      return;
    }
    expect(rows.map((r) => r.runtime).sort()).toEqual(["workerd", "node", ...extraRuntimes()].sort());
    for (const row of rows) {
      const label = `${row.id}: ${JSON.stringify(row)}`;
      expect(row.store, label).toBe("upstash");
      expect(row.algorithm, label).toBe("round-robin");
      expect(row.sessions, label).toBeGreaterThan(0);
      // 400 requests over the sessions: each comes back several times, so uncached claims would show.
      expect(row.sessions!, label).toBeLessThan(results.load.requests!);
      expect(row.storeRoundTripsPerRequest, label).not.toBeNull();
      expect(row.sessionClaimsPerRequest, label).not.toBeNull();
      // Each session was placed (claimed) before the warm-up; 400 requests later, a claim per
      // request would show hundreds more. One claim per session per instance per TTL: none in
      // the measured window, and at most one per session since the start (one instance).
      expect(Math.round(row.sessionClaimsPerRequest! * row.requests), label).toBe(0);
      expect(row.sessionClaimsSinceStart, label).toBeGreaterThan(0);
      expect(row.sessionClaimsSinceStart!, label).toBeLessThanOrEqual(row.sessions! * 1);
    }
    const target = results.targets.find((t) => t.target.startsWith("header affinity:"));
    for (const row of rows) expect(target?.value).toContain(`${row.id} ${row.sessionClaimsSinceStart} claims`);
  });

  it("measures WebSocket echo through the balancer in every runtime, beside direct", () => {
    const runtimes = ["workerd", "node", ...extraRuntimes()];
    expect(results.webSockets.map((r) => r.id)).toEqual([
      "ws-direct",
      ...runtimes.map((runtime) => `ws-${runtime}-rr-memory`),
    ]);
    expect(results.webSocketLoad?.clients).toBeGreaterThan(0);
    const messages = results.webSocketLoad?.messages;
    expect(messages).toBeGreaterThanOrEqual(100);
    expect(messages).toBeLessThanOrEqual(1000);
    for (const row of results.webSockets) {
      const label = `${row.id}: ${JSON.stringify(row)}`;
      expect(row.failed, label).toBeUndefined();
      expect(row.messages, label).toBe(messages);
      expect(row.errors, label).toBe(0);
      expect(row.messagesPerSecond, label).toBeGreaterThan(0);
      expect(Number.isFinite(row.p50Ms) && row.p50Ms > 0, label).toBe(true);
      expect(Number.isFinite(row.p99Ms) && row.p99Ms >= row.p50Ms, label).toBe(true);
      if (row.id === "ws-direct") {
        expect(row.vsDirect, label).toBeNull();
        continue;
      }
      expect(row.vsDirect, label).toBeGreaterThan(0);
      expect(row.cpuUsPerMessage, label).not.toBeNull();
      expect(row.cpuUsPerMessage, label).toBeGreaterThanOrEqual(0);
    }
  });

  it("times each runtime's cold start, bare beside the balancer, and sizes the minified Worker", () => {
    const ids = (results.coldStarts ?? []).map((c) => c.id);
    const runtimes = ["workerd", "node", ...extraRuntimes()];
    expect(ids).toEqual(runtimes.flatMap((runtime) => [`${runtime}-bare`, `${runtime}-rr-memory`]));
    for (const cold of results.coldStarts ?? []) {
      const label = JSON.stringify(cold);
      expect(cold.failed, label).toBeUndefined();
      expect(cold.runs, label).toBe(1);
      // The first request is part of the start: from spawn to its answer takes longer.
      expect(cold.firstRequestMs, label).toBeGreaterThan(0);
      expect(cold.firstResponseMs, label).toBeGreaterThan(cold.firstRequestMs);
      expect(cold.startCpuMs, label).toBeGreaterThanOrEqual(cold.firstRequestCpuMs);
    }
    const targets = results.targets.map((t) => t.target);
    for (const runtime of runtimes)
      expect(targets).toContain(`${runtime}: cold start to first response within 1.5 × the bare proxy's`);
    expect(results.bundle!.entryBytes).toBeGreaterThan(10_000);
    expect(results.bundle!.totalBytes).toBeGreaterThanOrEqual(results.bundle!.entryBytes);
    expect(results.bundle!.contributors.map((c) => c.name)).toContain("hono");
    expect(targets.some((t) => t.startsWith("minified Worker bundle ≤ 150 KB"))).toBe(true);
    for (const heading of [COLD_START_HEADING, BUNDLE_HEADING]) expect(markdown).toContain(heading);
    // Tiny runs do not profile unless asked (--profile).
    expect(results.profiles).toBeUndefined();
  });

  it("writes a Markdown table that says what the JSON says", () => {
    const table = parseTable(markdown, ROWS_HEADING);
    expect(table[0]).toEqual([...ROW_COLUMNS]);
    expect(table.slice(1)).toHaveLength(results.rows.length);
    const column = (name: (typeof ROW_COLUMNS)[number]) => ROW_COLUMNS.indexOf(name);
    results.rows.forEach((row, i) => {
      const cells = table[i + 1]!;
      expect(cells).toEqual(rowCells(row));
      // And the numbers read back are the JSON's, to the table's precision.
      expect(cells[column("row")]).toBe(row.id);
      expect(Math.abs(parseCell(cells[column("req/s")]!)! - row.rps)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(parseCell(cells[column("p50 ms")]!)! - row.p50Ms)).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(parseCell(cells[column("p99 ms")]!)! - row.p99Ms)).toBeLessThanOrEqual(0.005 + 1e-9);
      const pairs: Array<[(typeof ROW_COLUMNS)[number], number | null, number]> = [
        ["p99 over bare ms", row.p99OverBareMs, 0.005],
        ["store trips/req", row.storeRoundTripsPerRequest, 0.00005],
        ["claims/req", row.sessionClaimsPerRequest, 0.00005],
        ["CPU µs/req", row.cpuUsPerRequest, 0.5],
        ["peak RSS MiB", row.peakRssMiB, 0.05],
        ["÷ bare", row.vsBare, 0.005],
        ["÷ nginx", row.vsNginx, 0.005],
      ];
      for (const [name, value, precision] of pairs) {
        const read = parseCell(cells[column(name)]!);
        if (value === null) expect(read, `${row.id} ${name}`).toBeNull();
        else expect(Math.abs(read! - value), `${row.id} ${name}`).toBeLessThanOrEqual(precision + 1e-9);
      }
    });

    // The WebSocket table comes right after the rows table and reads back the same way.
    const sections = [ROWS_HEADING, WEBSOCKET_HEADING, PICKS_HEADING].map((h) => markdown.indexOf(h));
    expect(sections[0]).toBeGreaterThan(-1);
    expect(sections).toEqual([...sections].sort((a, b) => a - b));
    const webSockets = parseTable(markdown, WEBSOCKET_HEADING);
    expect(webSockets[0]).toEqual([...WEBSOCKET_COLUMNS]);
    expect(webSockets.slice(1)).toHaveLength(results.webSockets.length);
    const wsColumn = (name: (typeof WEBSOCKET_COLUMNS)[number]) => WEBSOCKET_COLUMNS.indexOf(name);
    results.webSockets.forEach((row, i) => {
      const cells = webSockets[i + 1]!;
      expect(cells).toEqual(webSocketCells(row));
      expect(cells[wsColumn("row")]).toBe(row.id);
      const pairs: Array<[(typeof WEBSOCKET_COLUMNS)[number], number | null, number]> = [
        ["msg/s", row.messagesPerSecond, 0.5],
        ["p50 ms", row.p50Ms, 0.005],
        ["p99 ms", row.p99Ms, 0.005],
        ["÷ direct", row.vsDirect, 0.005],
        ["CPU µs/msg", row.cpuUsPerMessage, 0.5],
      ];
      for (const [name, value, precision] of pairs) {
        const read = parseCell(cells[wsColumn(name)]!);
        if (value === null) expect(read, `${row.id} ${name}`).toBeNull();
        else expect(Math.abs(read! - value), `${row.id} ${name}`).toBeLessThanOrEqual(precision + 1e-9);
      }
    });

    const picks = parseTable(markdown, PICKS_HEADING);
    expect(picks[0]).toEqual([...PICK_COLUMNS]);
    expect(picks.slice(1)).toEqual(pickRows(results.picks));
    for (const [i, algorithm] of ALGORITHM_NAMES.entries()) {
      PICK_SIZES.forEach((size, j) => {
        const json = results.picks.find((p) => p.algorithm === algorithm && p.backends === size)!;
        expect(Math.abs(parseCell(picks[i + 1]![j + 1]!)! * 1e6 - json.picksPerSecond)).toBeLessThanOrEqual(5_000);
      });
    }
  });

  it("leaves no process behind", () => {
    const started = readFileSync(join(dir, "pids.log"), "utf8").trim().split("\n").filter(Boolean);
    expect(started.length).toBeGreaterThan(5);
    const left = started.flatMap((line) => {
      const [pid, name] = line.split(" ");
      return groupMembers(Number(pid)).map((member) => `${name} (group ${pid}): pid ${member}`);
    });
    expect(left).toEqual([]);
  });
});
