// `npm run bench`: the balancer's cost per request, side by side with the runtime's own limit
// (a bare fetch proxy), nginx and HAProxy, on this machine, in one run, with the store cost of
// header affinity (header-affinity.ts); then WebSocket echo through the balancer beside direct,
// in each runtime (websocket-rows.ts).
//
//   npm run bench                 full run: 3 s warm-up + 10 s of load per row (a few minutes)
//   npm run bench -- --quick      1 s warm-up + 2 s per row (under a minute)
//   npm run bench -- --tiny       a few hundred requests per row (the test uses it; BENCH_TINY=1 too)
//
// Options: --out=DIR (default bench/results), --load=wrk|node (default: wrk when installed),
// --connections=N (default 32), --runtimes=workerd,node,bun,deno (default: all available),
// --no-proxies (skip nginx and HAProxy), --no-picks, --no-callgrind (no instruction count of
// routing and the JSON log on Node and workerd, feature-instructions.ts), --blocks=N (A B B A blocks per side-by-side
// pair, paired-rows.ts; default 20, --quick 3: more narrow a pair's median), --rows=ID,ID (only those rows, e.g.
// --rows=node-rr-memory,node-rr-memory-json for the JSON access log's cost; no WebSocket rows
// and no cold starts), --compare=FILE (each row's change against an earlier results JSON,
// compare.ts), --no-profile (no CPU profile of each runtime's rr-memory row, profile.ts; tiny
// runs profile only with --profile).
//
// Besides the rows: the minified Worker bundle's size (bundle-size.ts) and each runtime's cold
// start, bare proxy beside the balancer (cold-start.ts).
//
// Writes DIR/latest.{md,json} (full runs; latest-quick / latest-tiny for the others) and a
// timestamped copy of both, and prints the Markdown. Every server it starts runs on a free
// 127.0.0.1 port and is stopped at the end, on error, and on Ctrl-C.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { buildWorker } from "../build-worker.ts";
import { REDIS_INSTALL_HINT, redisServerAvailable } from "../redis-local.ts";
import { parseBenchArgs } from "./args.ts";
import { bundleTargets, measureWorkerBundle } from "./bundle-size.ts";
import { coldStartRuns, coldStartTargets, runColdStarts } from "./cold-start.ts";
import { compareRuns, comparisonMarkdown, readRun } from "./compare.ts";
import {
  type CountedFeature,
  type FeatureInstructions,
  featureInstructionTargets,
  hasCallgrind,
  measureFeatureInstructions,
} from "./feature-instructions.ts";
import {
  type ClaimCounts,
  claimCounts,
  headerAffinityRow,
  primeSessions,
  sessionCount,
  sessionLoad,
  storeCounts,
} from "./header-affinity.ts";
import { type LoadGenerator, type LoadSpec, nodeGenerator, wrkGenerator, wrkVersion } from "./load.ts";
import { measurePair, pairsOf, pairTargets, type RowPair } from "./paired-rows.ts";
import { type PickResult, runPicks } from "./picks.ts";
import {
  cpuSnapshot,
  cpuTicks,
  installCleanupHooks,
  type Proc,
  peakRssMiB,
  runCommand,
  sleep,
  startProcess,
  stopAll,
  TICKS_PER_SECOND,
} from "./processes.ts";
import { isProfiledRow, profileAfterRow, type RuntimeProfile } from "./profile.ts";
import { type BenchResults, checkTargets, machineInfo, toMarkdown } from "./report.ts";
import type { RoutingCost } from "./routing-cost.ts";
import { type MeasuredRow, rowResults } from "./row-results.ts";
import {
  type BenchEnv,
  balancerCommandFor,
  DIRECT_ROW,
  findBinary,
  HAPROXY_ROW,
  NGINX_ROW,
  PROXY_INSTALL_HINT,
  type RowSpec,
  type Running,
  type Runtime,
  runtimeRows,
  startRow,
} from "./targets.ts";
import { runWebSocketRows } from "./websocket-rows.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type Mode = "full" | "quick" | "tiny";

export interface BenchOptions {
  readonly mode: Mode;
  readonly outDir: string;
  readonly load?: "wrk" | "node";
  readonly connections?: number;
  /** A B B A blocks per side-by-side pair (default 20; --quick 3). */
  readonly blocks?: number;
  readonly runtimes?: readonly Runtime[];
  readonly proxies?: boolean;
  readonly picks?: boolean;
  /** Count routing's instructions under callgrind when valgrind is installed (default: yes). */
  readonly callgrind?: boolean;
  /** Only the rows with these ids (and no WebSocket rows or cold starts); default: every row. */
  readonly rows?: readonly string[];
  /** An earlier results JSON: each row's change against it goes into the Markdown. */
  readonly compare?: string;
  /** Profile each runtime's rr-memory server under a load of its own after its row. */
  readonly profile?: boolean;
  /** Progress lines (default: stdout). */
  readonly log?: (line: string) => void;
}

interface ModeSettings {
  readonly warmup: LoadSpec;
  /** The warm-up's generator: the main one, or the Node one (sub-second, wrk cannot). */
  readonly warmupWith: "main" | "node";
  readonly measure: LoadSpec;
  readonly pickRunMs: number;
}

function modeSettings(mode: Mode, connections: number, generator: "wrk" | "node"): ModeSettings {
  switch (mode) {
    case "full":
      return {
        warmup: { connections, durationS: 3 },
        warmupWith: "main",
        measure: { connections, durationS: 10 },
        pickRunMs: 300,
      };
    case "quick":
      // 24 rows with Bun and Deno: about 1.8 s each, so the whole run stays under a minute.
      return {
        warmup: { connections, durationS: 0.5 },
        warmupWith: "node",
        measure: { connections, durationS: 1 },
        pickRunMs: 25,
      };
    case "tiny":
      // A few hundred requests per row: counted, so only the Node generator can do it.
      if (generator === "wrk") throw new Error("--tiny counts requests; use the node load generator");
      return {
        warmup: { connections, requests: 100 },
        warmupWith: "node",
        measure: { connections, requests: 300 },
        pickRunMs: 10,
      };
  }
}

async function versionOf(command: string, args: string[], pattern: RegExp): Promise<string | undefined> {
  const result = await runCommand(command, args, 15_000);
  if (result.code !== 0) return undefined;
  return pattern.exec(result.stdout + result.stderr)?.[1];
}

/** Bundles a Node entry (and its dependencies) into one ES module file. */
async function bundleNode(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
    // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);",
    },
  });
  return outfile;
}

async function waitForOutput(proc: Proc, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(proc.output());
    if (match) return match;
    if (!proc.running) throw new Error(`${proc.name} exited:\n${proc.output().trim()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name} did not start in time:\n${proc.output().trim()}`);
    await sleep(20);
  }
}

export async function runBench(
  options: BenchOptions,
): Promise<{ results: BenchResults; markdown: string; files: string[] }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const startedAt = new Date().toISOString();
  const connections = options.connections ?? (options.mode === "tiny" ? 8 : 32);
  const notes: string[] = [];
  const versions: Record<string, string> = {};
  const workDir = mkdtempSync(join(tmpdir(), "edge-lb-bench-"));
  const cpuAtStart = cpuSnapshot();
  // Read first: a bad file should fail the run before minutes of load, not after.
  const earlier = options.compare ? readRun(options.compare) : undefined;
  installCleanupHooks(async () => {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  });

  try {
    // --- What is installed -------------------------------------------------------------------
    const workerdBin = join(ROOT, "node_modules", ".bin", "workerd");
    const workerd = await versionOf(workerdBin, ["--version"], /workerd\s+(\S+)/);
    if (!workerd) throw new Error(`workerd does not run (${workerdBin}); run npm install`);
    versions["workerd"] = workerd;

    const wrk = await wrkVersion();
    let generator: LoadGenerator;
    const wanted = options.load ?? (options.mode === "tiny" ? "node" : wrk ? "wrk" : "node");
    if (wanted === "wrk" && wrk) {
      generator = wrkGenerator(wrk, workDir);
    } else {
      if (wanted === "wrk")
        notes.push(`wrk is not installed (${PROXY_INSTALL_HINT}): the Node load generator was used instead`);
      else if (!wrk && options.mode !== "tiny")
        notes.push(`wrk is not installed (${PROXY_INSTALL_HINT}): the Node load generator was used`);
      generator = nodeGenerator();
    }
    if (wrk) versions["wrk"] = wrk;
    const settings = modeSettings(options.mode, connections, generator.name.startsWith("wrk") ? "wrk" : "node");

    const nginxBin = findBinary("nginx");
    const haproxyBin = findBinary("haproxy");
    const proxies = options.proxies ?? true;
    if (proxies) {
      if (nginxBin) versions["nginx"] = (await versionOf(nginxBin, ["-v"], /nginx\/(\S+)/)) ?? "?";
      else notes.push(`nginx is not installed: its row is skipped (install: ${PROXY_INSTALL_HINT})`);
      if (haproxyBin) versions["HAProxy"] = (await versionOf(haproxyBin, ["-v"], /HAProxy version (\S+)/)) ?? "?";
      else notes.push(`HAProxy is not installed: its row is skipped (install: ${PROXY_INSTALL_HINT})`);
    }

    const redis = redisServerAvailable();
    if (redis) {
      versions["redis-server"] = (await versionOf("redis-server", ["--version"], /v=(\S+)/)) ?? "?";
    } else {
      notes.push(`redis-server is not installed: the upstash rows are skipped (install: ${REDIS_INSTALL_HINT})`);
    }

    const runtimes: Runtime[] = [];
    const wantRuntime = (r: Runtime) => !options.runtimes || options.runtimes.includes(r);
    if (wantRuntime("workerd")) runtimes.push("workerd");
    if (wantRuntime("node")) runtimes.push("node");
    const balancerCommand: BenchEnv["balancerCommand"] = {};
    const bins: { bun?: string; deno?: string } = {};
    for (const runtime of ["bun", "deno"] as const) {
      if (!wantRuntime(runtime)) continue;
      const binary = join(ROOT, "node_modules", ".bin", runtime);
      const version = existsSync(binary)
        ? await versionOf(binary, ["--version"], runtime === "bun" ? /^(\d\S*)/m : /deno (\S+)/)
        : undefined;
      const how = balancerCommandFor(runtime, ROOT, version ? binary : undefined);
      if (how.command) {
        versions[runtime === "bun" ? "Bun" : "Deno"] = version!;
        balancerCommand[runtime] = how.command;
        bins[runtime] = binary;
        runtimes.push(runtime);
      } else {
        notes.push(`${runtime === "bun" ? "Bun" : "Deno"} rows skipped: ${how.missing}`);
      }
    }

    // --- Pick micro-benchmark, on a quiet machine ------------------------------------------
    let picks: PickResult[] = [];
    if (options.picks ?? true) {
      log(`pick micro-benchmark (${settings.pickRunMs} ms per timed run)...`);
      picks = runPicks({ runMs: settings.pickRunMs });
    }

    // --- Upstreams, the Upstash stack and the bundles -----------------------------------------
    log(
      `bundling the worker and the Node entry points; starting 3 upstreams${redis ? " and redis-server + upstash-local" : ""}...`,
    );
    const upstreamsProc = startProcess(
      "upstreams",
      process.execPath,
      ["--import", "tsx", join(ROOT, "scripts", "bench", "upstreams.ts"), "3"],
      {
        cwd: ROOT,
      },
    );
    const upstashProc = redis
      ? startProcess("upstash-local", process.execPath, ["--import", "tsx", join(ROOT, "scripts", "redis-local.ts")], {
          cwd: ROOT,
        })
      : undefined;
    const [worker, profileWorker, nodeBundle, nodeBareBundle, routingBundle] = await Promise.all([
      buildWorker(join(workDir, "worker")),
      buildWorker(join(workDir, "worker-profile"), { minify: false }),
      bundleNode(join(ROOT, "src", "runtime", "node.ts"), join(workDir, "node-lb.mjs")),
      bundleNode(join(ROOT, "scripts", "bench", "bare", "node.ts"), join(workDir, "node-bare.mjs")),
      bundleNode(join(ROOT, "scripts", "bench", "routing-cost-main.ts"), join(workDir, "routing-cost.mjs")),
    ]);
    const bundle = measureWorkerBundle(worker);
    // Before any server starts: the routing micro-benchmark wants the machine to itself.
    let routing: RoutingCost | undefined;
    if (options.picks ?? true) {
      log("routing micro-benchmark (10 routes, 3 pools, bundled, one node process)...");
      const iterations = options.mode === "tiny" ? 20_000 : 200_000;
      const output = execFileSync(process.execPath, [routingBundle, String(iterations)], { encoding: "utf8" });
      routing = JSON.parse(output.trim().split("\n").pop()!) as RoutingCost;
    }
    const upstreams = (JSON.parse((await waitForOutput(upstreamsProc, /^\{"urls".*\}$/m))[0]) as { urls: string[] })
      .urls;
    let upstash: BenchEnv["upstash"];
    if (upstashProc) {
      const url = (await waitForOutput(upstashProc, /^UPSTASH_REDIS_REST_URL=(\S+)$/m))[1]!;
      const token = (await waitForOutput(upstashProc, /^UPSTASH_REDIS_REST_TOKEN=(\S+)$/m))[1]!;
      upstash = { url, token };
    }

    const env: BenchEnv = {
      root: ROOT,
      workDir,
      upstreams,
      adminToken: `bench-admin-${randomBytes(12).toString("hex")}`,
      upstash,
      worker,
      profileWorker,
      nodeBundle,
      nodeBareBundle,
      bins: {
        workerd: workerdBin,
        ...bins,
        ...(proxies && nginxBin ? { nginx: nginxBin } : {}),
        ...(proxies && haproxyBin ? { haproxy: haproxyBin } : {}),
      },
      balancerCommand,
    };

    const plan: RowSpec[] = [DIRECT_ROW];
    for (const runtime of runtimes) {
      const brief = options.mode === "tiny" && runtime !== "workerd" && runtime !== "node";
      plan.push(...runtimeRows(runtime, { upstash: upstash !== undefined, brief }));
      if (upstash) plan.push(headerAffinityRow(runtime, sessionCount(options.mode)));
    }
    if (env.bins.nginx) plan.push(NGINX_ROW);
    if (env.bins.haproxy) plan.push(HAPROXY_ROW);
    if (options.rows) {
      const unknown = options.rows.filter((id) => !plan.some((row) => row.id === id));
      if (unknown.length) notes.push(`--rows: no such row here: ${unknown.join(", ")}`);
      plan.splice(0, plan.length, ...plan.filter((row) => options.rows!.includes(row.id)));
    }

    // --- The rows ---------------------------------------------------------------------------
    const per =
      settings.measure.durationS !== undefined
        ? `${settings.measure.durationS} s`
        : `${settings.measure.requests} requests`;
    log(`${plan.length} rows, ${generator.name}, ${connections} connections, ${per} each:`);
    const warmer = settings.warmupWith === "node" ? nodeGenerator() : generator;
    const profiles: RuntimeProfile[] = [];
    const measured: MeasuredRow[] = [];
    for (const row of plan) {
      let running: Running | undefined;
      const rowStarted = Date.now();
      try {
        running = await startRow(row, env);
        await primeSessions(running.url, row, connections);
        await warmer.run(running.url, { ...settings.warmup, ...sessionLoad(row) });
        const before = running.statusUrl ? await storeCounts(running.statusUrl, env.adminToken) : undefined;
        const ticksBefore = running.proc ? cpuTicks(running.proc.pid) : 0;
        const load = await generator.run(running.url, { ...settings.measure, ...sessionLoad(row) });
        const cpuUs = running.proc
          ? ((cpuTicks(running.proc.pid) - ticksBefore) / TICKS_PER_SECOND / Math.max(1, load.requests)) * 1e6
          : undefined;
        let trips: number | undefined;
        let claims: ClaimCounts | undefined;
        if (running.statusUrl && before !== undefined) {
          const after = await storeCounts(running.statusUrl, env.adminToken);
          // The second status call refreshes the view first: one round trip of its own.
          trips = Math.max(0, after.roundTrips - before.roundTrips - 1);
          claims = claimCounts(before, after);
        }
        const rss = running.proc ? peakRssMiB(running.proc.pid) : undefined;
        if (load.requests === 0) throw new Error("no request completed");
        measured.push({ row, load, trips, claims, rss, cpuUs });
        log(
          `  ${row.id.padEnd(26)} ${Math.round(load.rps).toString().padStart(7)} req/s  p50 ${load.p50Ms.toFixed(2)} ms  p99 ${load.p99Ms.toFixed(2)} ms` +
            (trips !== undefined ? `  trips/req ${(trips / load.requests).toFixed(4)}` : "") +
            (claims?.sinceStart
              ? `  claims/req ${(claims.window / load.requests).toFixed(4)} (${claims.sinceStart} since start)`
              : "") +
            (cpuUs !== undefined ? `  CPU ${Math.round(cpuUs)} µs/req` : "") +
            (rss !== undefined ? `  RSS ${rss.toFixed(1)} MiB` : "") +
            (load.errors ? `  errors ${load.errors}` : "") +
            `  (${((Date.now() - rowStarted) / 1000).toFixed(1)} s)`,
        );
        if (load.errors > 0)
          notes.push(`${row.id}: ${load.errors} of ${load.requests} requests failed (non-2xx/3xx or socket errors)`);
      } catch (error) {
        const message = (error as Error).message;
        measured.push({ row, failed: message });
        log(`  ${row.id.padEnd(26)} FAILED: ${message.split("\n").slice(0, 6).join("\n    ")}`);
        notes.push(`${row.id} failed: ${message.split("\n")[0]}`);
      } finally {
        await running?.stop();
      }
      if (options.profile && isProfiledRow(row) && !measured.at(-1)?.failed) {
        const load = { generator, warmer, warmup: settings.warmup, connections };
        profiles.push(
          await profileAfterRow(row, env, { ...load, durationS: options.mode === "full" ? 2 : 1 }, log, notes),
        );
      }
    }
    // What routing and request logging add, with both servers taking the load in turns (paired-rows.ts).
    const pairs: RowPair[] = [];
    // Not in tiny runs (the bench's own test): a few hundred requests cannot show microseconds.
    for (const { kind, base, variant } of options.mode === "tiny" ? [] : pairsOf(plan)) {
      // Full: 40 one-second turns a pair (wrk counts whole seconds), two processes a side.
      const turnS = 1;
      const instances = options.mode === "full" ? 2 : 1;
      const blocks = options.blocks ?? (options.mode === "full" ? 20 : 3);
      log(
        `  ${variant.id}: beside ${base.id} in turns (${instances} processes a side, ${blocks * 4} turns of ${turnS} s)...`,
      );
      try {
        const pair = await measurePair(kind, base, variant, env, {
          generator,
          warmer,
          warmup: settings.warmup,
          connections,
          turnS,
          instances,
          blocks,
          ...(upstreamsProc.pid ? { upstreamPid: upstreamsProc.pid } : {}),
        });
        pairs.push(pair);
        log(
          `    ${pair.rpsRatio.toFixed(2)} × req/s, ${pair.addedUs >= 0 ? "+" : ""}${pair.addedUs.toFixed(1)} CPU µs/req over ${pair.base.cpuUs.toFixed(1)} (medians of ${pair.blocks.length} blocks)${pair.pinned ? "" : ", unpinned"}`,
        );
      } catch (error) {
        notes.push(`${variant.id} beside ${base.id} failed: ${(error as Error).message.split("\n")[0]}`);
      }
    }
    // Routing's and the JSON log's cost in instructions, which the machine's load does not move
    // (feature-instructions.ts).
    const featureInstructions: (FeatureInstructions & { readonly baseUs: number | null })[] = [];
    const counted: readonly CountedFeature[] = ["routes", "json"];
    for (const feature of counted) {
      for (const runtime of ["node", "workerd"] as const) {
        const pair = pairsOf(plan).find(
          (candidate) => candidate.kind === feature && candidate.base.runtime === runtime,
        );
        if (!pair || options.mode === "tiny" || options.callgrind === false || !hasCallgrind()) continue;
        const counts =
          options.mode === "full" ? { warmup: 8_000, requests: 2_000 } : { warmup: 5_000, requests: 1_000 };
        log(`  ${runtime}: ${feature} cost in instructions under callgrind (${counts.requests} requests a turn)...`);
        try {
          const result = await measureFeatureInstructions(feature, pair.base, pair.variant, env, counts);
          const baseUs = pairs.find((timed) => timed.runtime === runtime && timed.kind === feature)?.base.cpuUs;
          featureInstructions.push({ ...result, baseUs: baseUs ?? null });
          log(
            `    ${result.base.map(Math.round).join(", ")} → ${result.variant.map(Math.round).join(", ")} instructions/req`,
          );
        } catch (error) {
          notes.push(`${runtime} ${feature} instructions failed: ${(error as Error).message.split("\n")[0]}`);
        }
      }
    }
    const coldStarts = options.rows ? [] : await runColdStarts(runtimes, env, coldStartRuns(options.mode), log, notes);
    const webSockets = options.rows
      ? { rows: [], load: undefined }
      : await runWebSocketRows({ mode: options.mode, runtimes, env, log, notes });
    await Promise.all([upstreamsProc.stop(), upstashProc?.stop()]);

    // --- Ratios, targets, files --------------------------------------------------------------
    const rows = rowResults(measured);
    notes.push(
      "Node rows run esbuild bundles of src/runtime/node.ts and scripts/bench/bare/node.ts with plain node (no tsx loader in the measured process); " +
        "workerd rows run the bundle of src/runtime/worker.ts (scripts/build-worker.ts) from a generated workerd config, the durable-object row with SQLite-backed objects on local disk.",
      "nginx runs 1 worker process and HAProxy 1 thread, like the single-threaded runtimes; both keep idle connections to the upstreams. " +
        "Every process (load generator, proxy, upstreams) shares this machine's cores, so compare rows within one run, not across machines.",
      "All requests come from 127.0.0.1, so IP hash sends them all to one upstream; least connections sees one process's own in-flight counts (memory store).",
    );
    if (options.mode !== "full")
      notes.push(`${options.mode} run: short and noisy; \`npm run bench\` for numbers worth quoting.`);

    const cpuAtEnd = cpuSnapshot();
    const elapsedTicks = cpuAtEnd.total - cpuAtStart.total;
    const otherTicks = cpuAtEnd.busy - cpuAtStart.busy - (cpuAtEnd.ours - cpuAtStart.ours);
    const otherCpuPercent = elapsedTicks > 0 ? Math.max(0, Math.min(100, (100 * otherTicks) / elapsedTicks)) : 0;
    if (otherCpuPercent > 5) {
      notes.push(
        `Other processes used ${otherCpuPercent.toFixed(0)}% of the CPU during this run: req/s, latencies and ratios are disturbed; run again on a quiet machine for numbers worth quoting.`,
      );
    }

    const results: BenchResults = {
      version: 1,
      mode: options.mode,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machineInfo(versions),
      otherCpuPercent,
      load: {
        tool: generator.name,
        connections,
        durationS: settings.measure.durationS ?? null,
        requests: settings.measure.requests ?? null,
        warmup:
          settings.warmup.durationS !== undefined
            ? `${settings.warmup.durationS} s`
            : `${settings.warmup.requests}-request`,
        upstreams: "3 node:http servers in one process, 20-byte text answers, keep-alive",
      },
      rows,
      ...(webSockets.load ? { webSocketLoad: webSockets.load } : {}),
      webSockets: webSockets.rows,
      picks,
      ...(routing ? { routing } : {}),
      ...(pairs.length ? { pairs } : {}),
      ...(featureInstructions.length ? { featureInstructions } : {}),
      ...(coldStarts.length ? { coldStarts } : {}),
      ...(bundle ? { bundle } : {}),
      ...(profiles.length ? { profiles } : {}),
      targets: [
        ...checkTargets(rows, picks, routing, pairs),
        ...pairTargets(pairs),
        ...featureInstructions.flatMap((result) => featureInstructionTargets(result, result.baseUs ?? undefined)),
        ...coldStartTargets(coldStarts),
        ...bundleTargets(bundle),
      ],
      notes,
    };
    let markdown = toMarkdown(results);
    if (earlier && options.compare) {
      const shown = options.compare.startsWith(ROOT) ? options.compare.slice(ROOT.length) : options.compare;
      markdown += `\n${comparisonMarkdown(compareRuns(earlier, results), shown).join("\n")}`;
    }
    mkdirSync(options.outDir, { recursive: true });
    const latest = options.mode === "full" ? "latest" : `latest-${options.mode}`;
    const stamp = startedAt.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
    const files: string[] = [];
    for (const name of [latest, `${stamp}-${options.mode}`]) {
      const md = join(options.outDir, `${name}.md`);
      const json = join(options.outDir, `${name}.json`);
      writeFileSync(md, markdown);
      writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
      files.push(md, json);
    }
    return { results, markdown, files };
  } finally {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const options = parseBenchArgs(process.argv.slice(2), ROOT);
  const started = Date.now();
  const { results, markdown, files } = await runBench(options);
  console.log(`\n${markdown}`);
  console.log(
    `wrote ${files.map((f) => f.replace(ROOT, "")).join(", ")} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const failed = [...results.rows, ...results.webSockets].filter((r) => r.failed);
  if (failed.length) {
    console.error(`${failed.length} row(s) failed: ${failed.map((r) => r.id).join(", ")}`);
    process.exitCode = 1;
  }
  // Nothing of the bench's may linger (keep-alive sockets, timers): it is done.
  process.exit(process.exitCode ?? 0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
