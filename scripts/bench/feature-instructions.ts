// What a feature adds per request, counted in instructions rather than timed: ten routes and
// three pools (`-routes` beside `-rr-memory`), and the JSON access log (`-json`). CPU time per
// request moves by tens of µs between turns on a shared VM (neighbours, hypervisor steal;
// paired-rows.ts), more than the 5 µs asked of routing or the 10% asked of the JSON log; valgrind's
// callgrind counts instructions, which neither changes. Both servers of a pair (Node or workerd) run
// under it at once, with V8's --predictable (compilation and GC on the main thread, so the main
// thread's count is all of the isolate's work) and the optimising tiers off (--no-opt; workerd's
// V8 also --no-maglev): with them on, TurboFan kept recompiling under valgrind (18-44% of a
// turn's instructions) and turns of one server differed by up to 40%; on the baseline tiers a
// Node server's turns agree within 0.1%, a workerd server's within about 2% (its timers and
// syncs run by the clock, which a turn of several seconds under valgrind does not hold still).
// Instrumentation is switched on after a warm-up; each turn (A B B A A B B A) counts exactly
// `requests` requests between a zero and a dump of the counters, less the timers' instructions
// (measured idle) for the turn's length. Only the main thread is counted: the kernel's side of a
// syscall is not an instruction here, nor Node's log write, which libuv's thread pool makes (one
// per 64 KiB of lines: log-writer.ts). The added share of instructions is priced at the base
// server's own CPU µs per request (from the paired timing). That is an estimate from above:
// optimised code shrinks JavaScript (property loads, iterators, calls and the header-name checks
// of undici's Headers, which the baseline tiers make through stubs) more than the runtime's native
// work (syscalls, the HTTP parser), which the share also counts. For the JSON access log it is
// the other way round, so that count is shown but judges nothing: the log's work is mostly the
// runtime's native code (JSON.stringify, string building, number formatting), which runs as fast
// on the baseline tiers as optimised, while the base's JavaScript runs several times slower, so
// the log's share comes out too small. Measured by hand on Node (2026-12-06, servers pinned, A B B
// A turns): with --no-opt the base took 548 µs/req and the log added 29 µs (×1.07); optimised,
// 90 µs/req and 11 µs (×1.12). Bun (JavaScriptCore) and Deno have not been tried under valgrind.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TargetCheck } from "./report.ts";
import { type BenchEnv, type RowSpec, type Spawned, spawnRow } from "./targets.ts";

export type CountedRuntime = "node" | "workerd";

/** How each runtime's V8 is held to its baseline tiers under valgrind (see the file header). */
const V8_FLAGS: Record<CountedRuntime, readonly string[]> = {
  node: ["--predictable", "--no-opt"],
  workerd: ["--predictable", "--no-opt", "--no-maglev"],
};

/** The features counted: routing (`-routes`) and the JSON access log (`-json`). */
export type CountedFeature = "routes" | "json";

export interface FeatureInstructions {
  readonly runtime: CountedRuntime;
  readonly feature: CountedFeature;
  /** Requests per turn; every turn counts exactly these. */
  readonly requests: number;
  /** Instructions per request in each of the base server's turns, and the variant's. */
  readonly base: readonly number[];
  readonly variant: readonly number[];
  /** Instructions per second with no requests (timers), taken out of the turns above. */
  readonly idlePerSecond: { readonly base: number; readonly variant: number };
}

/** How each feature is named, what the base server is, and what is asked of it. */
const FEATURES: Record<
  CountedFeature,
  { readonly title: string; readonly base: string; readonly variant: string; readonly target: string }
> = {
  routes: {
    title: "Routing cost",
    base: "one pool",
    variant: "10 routes, 3 pools",
    target: "10 routes and 3 pools add ≤ 5 µs CPU per request",
  },
  json: {
    title: "JSON access log cost",
    base: "no request log",
    variant: "JSON access log",
    target: "the JSON access log costs ≤ 10% of req/s",
  },
};

const ORDER = [0, 1, 1, 0, 0, 1, 1, 0] as const;
const IDLE_MS = 5_000;

/** Whether valgrind (with callgrind_control) is on this machine. */
export function hasCallgrind(): boolean {
  return (
    spawnSync("valgrind", ["--version"]).status === 0 && spawnSync("callgrind_control", ["--version"]).status === 0
  );
}

export async function measureFeatureInstructions(
  feature: CountedFeature,
  base: RowSpec,
  variant: RowSpec,
  env: BenchEnv,
  counts: { readonly warmup: number; readonly requests: number },
): Promise<FeatureInstructions> {
  const servers: Spawned[] = [];
  try {
    for (const row of [base, variant]) {
      // A directory per feature: the base row is counted once per feature, and callgrind numbers
      // each process's dumps from 1 again.
      const dir = join(env.workDir, `${row.id}-${feature}-callgrind`);
      const wrapper = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--smc-check=all-non-file",
        "--dump-line=no",
        "--separate-threads=yes",
        `--callgrind-out-file=${join(dir, "callgrind.out")}`,
      ];
      spawnSync("mkdir", ["-p", dir]);
      const runtime = countedRuntime(row);
      const server = await spawnRow(
        row,
        env,
        runtime === "workerd" ? { wrapper, v8Flags: V8_FLAGS.workerd } : { wrapper, runtimeFlags: V8_FLAGS.node },
      );
      servers.push(server);
      await untilAnswering(server);
    }
    for (const server of servers) {
      await sendRequests(server.url, counts.warmup);
      await control(server, ["--instr=on"]);
    }
    const dirs = [base, variant].map((row) => join(env.workDir, `${row.id}-${feature}-callgrind`));
    // Timers (health checks, syncs) run by the clock, and under valgrind a turn lasts some fifty
    // times longer than it would: their instructions per second, measured idle, are taken out of
    // each turn by its length, so that three pools' timers do not pass for routing.
    const idlePerSecond: number[] = [];
    for (const [which, server] of servers.entries()) {
      await control(server, ["--zero"]);
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      const instructions = await dumpedInstructions(server, dirs[which]!);
      idlePerSecond.push(instructions / ((performance.now() - started) / 1000));
    }
    const perRequest: [number[], number[]] = [[], []];
    for (const which of ORDER) {
      const server = servers[which]!;
      await control(server, ["--zero"]);
      const started = performance.now();
      await sendRequests(server.url, counts.requests);
      const instructions = await dumpedInstructions(server, dirs[which]!);
      const background = idlePerSecond[which]! * ((performance.now() - started) / 1000);
      perRequest[which].push((instructions - background) / counts.requests);
    }
    return {
      runtime: countedRuntime(base),
      feature,
      requests: counts.requests,
      base: perRequest[0],
      variant: perRequest[1],
      idlePerSecond: { base: idlePerSecond[0]!, variant: idlePerSecond[1]! },
    };
  } finally {
    await Promise.all(servers.map((server) => server.proc.stop()));
  }
}

function countedRuntime(row: RowSpec): CountedRuntime {
  if (row.runtime === "node" || row.runtime === "workerd") return row.runtime;
  throw new Error(`${row.id}: instructions are counted on Node and workerd only`);
}

/** Under valgrind Node starts in tens of seconds, not one. */
async function untilAnswering(server: Spawned): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (!server.proc.running) throw new Error(`${server.proc.name} exited under valgrind:\n${server.proc.output()}`);
    try {
      const response = await fetch(server.readyUrl, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${server.proc.name} did not answer under valgrind within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** `count` GETs, four at a time over keep-alive, every answer read whole; fails on a non-200. */
async function sendRequests(url: string, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${url} answered ${response.status} under valgrind`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

/**
 * callgrind_control acts when the program next runs, and an idle server sits in epoll_wait: the
 * command is started, the server is woken with a request of our own (the same one in both
 * servers, so it counts alike), and the command awaited.
 */
async function control(server: Spawned, args: readonly string[]): Promise<void> {
  const child = spawn("callgrind_control", [...args, String(server.proc.pid)], { stdio: "ignore" });
  const done = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 60_000;
  let exited = false;
  void done.then(() => (exited = true));
  while (!exited) {
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`callgrind_control ${args.join(" ")} did not return within 60 s`);
    }
    const response = await fetch(server.readyUrl, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    await response?.arrayBuffer();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 200))]);
  }
  if ((await done) !== 0) throw new Error(`callgrind_control ${args.join(" ")} failed`);
}

/** Dumps the counters since the last zero and reads the dump's total instruction count. */
async function dumpedInstructions(server: Spawned, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  await control(server, ["--dump"]);
  // One file per thread: the main thread's is the one numbered 01 (Node's and workerd's event
  // loop, where the isolate runs). V8's compiler and GC helper threads are left out: when they
  // run depends on timing, which is what this avoids.
  const dumps = readdirSync(dir).filter((name) => !before.has(name) && name.endsWith("-01"));
  let total = 0;
  for (const name of dumps) {
    const totals = /^(?:totals|summary): (\d+)/m.exec(readFileSync(join(dir, name), "utf8"));
    if (!totals) throw new Error(`${name}: no totals line in the callgrind dump`);
    total += Number(totals[1]);
  }
  if (dumps.length === 0)
    throw new Error(`callgrind wrote no main-thread dump in ${dir}: ${readdirSync(dir).join(", ")}`);
  return total;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** Added µs per request: the added instructions at the base server's µs per instruction. */
export function addedMicroseconds(counted: FeatureInstructions, baseUs: number): number {
  const base = mean(counted.base);
  return ((mean(counted.variant) - base) / base) * baseUs;
}

/**
 * The variant's req/s as a share of the base's, were the CPU the limit and every instruction as
 * dear: base instructions ÷ variant instructions.
 */
export function throughputRatio(counted: FeatureInstructions): number {
  return mean(counted.base) / mean(counted.variant);
}

export function featureInstructionTargets(
  counted: FeatureInstructions | undefined,
  baseUs: number | undefined,
): TargetCheck[] {
  if (!counted) return [];
  const base = mean(counted.base);
  const added = mean(counted.variant) - base;
  const share = `${added >= 0 ? "+" : ""}${Math.round(added)} of ${Math.round(base)} instructions per request, ${((added / base) * 100).toFixed(2)}%`;
  const method = "instructions counted by callgrind on V8's baseline tiers";
  const what = FEATURES[counted.feature];
  // The JSON log's count understates its share (file header): the paired timing judges it.
  if (counted.feature === "json") return [];
  if (baseUs === undefined) return [];
  const us = addedMicroseconds(counted, baseUs);
  return [
    {
      target: `${counted.runtime}: ${what.target} (${method}, their share priced at the one-pool server's µs/req)`,
      value: `${us >= 0 ? "+" : ""}${us.toFixed(2)} µs (${share}, at ${baseUs.toFixed(1)} µs/req)`,
      met: us <= 5,
    },
  ];
}

export function featureInstructionMarkdown(
  counted: FeatureInstructions | undefined,
  baseUs: number | undefined,
): string[] {
  if (!counted) return [];
  const what = FEATURES[counted.feature];
  const turns = (values: readonly number[]) => values.map((value) => Math.round(value)).join(", ");
  const added = Math.round(mean(counted.variant) - mean(counted.base));
  return [
    `## ${what.title} in instructions (${counted.runtime}, callgrind)`,
    "",
    `Both ${counted.runtime} servers under valgrind's callgrind (V8 \`${V8_FLAGS[counted.runtime].join(" ")}\`), each turn (${ORDER.map((i) => "AB"[i]).join(" ")}) counting exactly ${counted.requests} requests after a warm-up; instructions do not move with the machine's load as CPU time does.`,
    "",
    "| server | instructions per request, each turn | mean |",
    "| --- | --- | ---: |",
    `| ${what.base} | ${turns(counted.base)} | ${Math.round(mean(counted.base))} |`,
    `| ${what.variant} | ${turns(counted.variant)} | ${Math.round(mean(counted.variant))} |`,
    "",
    `Timers with no requests (taken out of each turn by its length): ${Math.round(counted.idlePerSecond.base)} instructions/s ${what.base}, ${Math.round(counted.idlePerSecond.variant)} ${what.variant}.`,
    "",
    baseUs === undefined
      ? `Added: ${added} instructions per request (no paired CPU timing in this run to turn them into µs).`
      : `Added: ${added} instructions per request, ${addedMicroseconds(counted, baseUs).toFixed(2)} µs at the base server's ${baseUs.toFixed(1)} µs/req${counted.feature === "json" ? `; req/s at ${throughputRatio(counted).toFixed(3)} × the base's` : ""}.`,
    "",
    ...(counted.feature === "json"
      ? [
          "Not a target: the log's work is mostly native (JSON.stringify, strings), as fast on the baseline tiers as optimised, while the base's JavaScript runs several times slower there, so this share is too small; the side-by-side timing judges it (scripts/bench/feature-instructions.ts).",
          "",
        ]
      : []),
  ];
}
