// The CPU profile's top five functions per runtime: after a runtime's round-robin-on-memory row
// is measured, the same server starts again under a profiler and takes a short load of its own,
// so the profiler never disturbs the measured numbers. Node and Bun write a .cpuprofile on exit
// (--cpu-prof); Deno 2.9 has no such flag and workerd none at all, so their V8 inspector's
// Profiler domain is asked instead (deno --inspect, workerd --inspector-addr).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { freePort } from "../redis-local.ts";
import { DASH, table } from "./cells.ts";
import { bundleModules, type CpuProfile, type HotFunction, hottestFunctions, shortUrl } from "./cpu-profile.ts";
import type { LoadGenerator, LoadSpec } from "./load.ts";
import { type BenchEnv, type RowSpec, type Running, startRow } from "./targets.ts";

export interface RuntimeProfile {
  readonly runtime: string;
  /** The row whose server was profiled. */
  readonly row: string;
  /** How: "node --cpu-prof", "bun --cpu-prof", "deno --inspect (inspector Profiler)", ... */
  readonly how: string;
  /** The profiled load's length, s, and its requests. */
  readonly durationS: number;
  readonly requests: number;
  /** Non-idle samples in the load's window, and their time, ms. */
  readonly samples: number;
  readonly busyMs: number;
  /** Samples spent on the profiler's own work (Deno's inspector events), not in `samples`. */
  readonly overheadSamples: number;
  readonly top: readonly HotFunction[];
  readonly failed?: string;
}

export const PROFILE_HEADING = "## CPU profile";
export const PROFILED_RUNTIMES = ["workerd", "node", "bun", "deno"] as const;
/** The sampler's interval, µs (--cpu-prof-interval; the inspector's Profiler.setSamplingInterval). */
const SAMPLING_US = 1000;
/** Runtimes profiled through their inspector, and its flag. */
const INSPECTOR_FLAG: Record<string, string> = { deno: "--inspect", workerd: "--inspector-addr" };

/** The row each runtime is profiled on: plain round robin on the memory store. */
export const isProfiledRow = (row: RowSpec) =>
  (PROFILED_RUNTIMES as readonly string[]).includes(row.runtime) && row.id === `${row.runtime}-rr-memory`;

export interface ProfileLoad {
  readonly generator: LoadGenerator;
  readonly warmer: LoadGenerator;
  readonly warmup: LoadSpec;
  readonly connections: number;
  /** The profiled load's length, s (whole seconds: wrk's unit). */
  readonly durationS: number;
}

/** profileRow with a progress line, and a note when it fails. */
export async function profileAfterRow(
  row: RowSpec,
  env: BenchEnv,
  load: ProfileLoad,
  log: (line: string) => void,
  notes: string[],
): Promise<RuntimeProfile> {
  const profile = await profileRow(row, env, load);
  const hottest = profile.top[0];
  log(
    `    profile ${profile.how}: ` +
      (profile.failed
        ? `FAILED: ${profile.failed.split("\n")[0]}`
        : `${profile.samples} samples, hottest ${hottest ? `${hottest.name} ${hottest.percent.toFixed(1)}%` : "none"}`),
  );
  if (profile.failed) notes.push(`${row.runtime} CPU profile failed: ${profile.failed.split("\n")[0]}`);
  return profile;
}

export async function profileRow(row: RowSpec, env: BenchEnv, load: ProfileLoad): Promise<RuntimeProfile> {
  const base = { runtime: row.runtime, row: row.id, durationS: load.durationS };
  const inspectorFlag = INSPECTOR_FLAG[row.runtime];
  const how = inspectorFlag ? `${row.runtime} ${inspectorFlag} (inspector Profiler)` : `${row.runtime} --cpu-prof`;
  const dir = join(env.workDir, `profile-${row.id}`);
  let running: Running | undefined;
  try {
    const inspectPort = inspectorFlag ? await freePort() : 0;
    const runtimeFlags = inspectorFlag
      ? [`${inspectorFlag}=127.0.0.1:${inspectPort}`]
      : ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${SAMPLING_US}`];
    // workerd runs an unminified build here, so the profile names our functions.
    running = await startRow(row, { ...env, worker: env.profileWorker }, { runtimeFlags });
    await load.warmer.run(running.url, load.warmup);
    const spec = { connections: load.connections, durationS: load.durationS };
    let profile: CpuProfile;
    let fromUs: number | undefined;
    let requests: number;
    if (inspectorFlag) {
      const inspector = await Inspector.connect(inspectPort);
      try {
        await inspector.send("Profiler.enable");
        await inspector.send("Profiler.setSamplingInterval", { interval: SAMPLING_US });
        await inspector.send("Profiler.start");
        requests = (await load.generator.run(running.url, spec)).requests;
        profile = ((await inspector.send("Profiler.stop")) as { profile: CpuProfile }).profile;
      } finally {
        inspector.close();
      }
    } else {
      const loadStarted = performance.now();
      requests = (await load.generator.run(running.url, spec)).requests;
      // The profile is written on exit: stop the server, then keep only the samples taken since
      // the load began (the profile's clock ends at the exit; the rest is start-up and warm-up).
      await running.stop();
      running = undefined;
      const sinceLoadUs = (performance.now() - loadStarted) * 1000;
      const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
      if (!file) throw new Error(`${row.runtime} wrote no .cpuprofile in ${dir}`);
      profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
      fromUs = profile.endTime - sinceLoadUs;
    }
    const summary = hottestFunctions(profile, {
      fromUs,
      intervalUs: SAMPLING_US,
      locate: locator(env, row.runtime),
      ...(row.runtime === "deno" ? { overhead: denoInspectorOverhead } : {}),
    });
    return { ...base, how, requests, ...summary };
  } catch (error) {
    return {
      ...base,
      how,
      requests: 0,
      samples: 0,
      busyMs: 0,
      overheadSamples: 0,
      top: [],
      failed: (error as Error).message,
    };
  } finally {
    await running?.stop();
  }
}

/**
 * With an inspector attached, Deno 2.9 reports every fetch to it (Network events), whether or
 * not the client enabled the Network domain: the profiler's cost, not the balancer's.
 */
const denoInspectorOverhead = (frame: { functionName: string; url: string }) =>
  frame.functionName.startsWith("op_inspector_") || frame.url.startsWith("ext:deno_node/inspector_network_bridge");

/**
 * Names source files: in the Node bundle and the Worker's modules by their module comments
 * (workerd names a module by its file name: worker.js, chunk-*.js), elsewhere relative to the
 * project.
 */
function locator(env: BenchEnv, runtime: string): (url: string, line: number) => string {
  const bundleOf = (path: string): string | undefined => {
    if (runtime === "node") return path === env.nodeBundle ? path : undefined;
    if (runtime !== "workerd") return undefined;
    const module = env.profileWorker.modules.find((m) => m.type === "esModule" && m.name === path);
    return module ? join(env.profileWorker.dir, module.name) : undefined;
  };
  const modules = new Map<string, (line: number) => string | undefined>();
  return (url, line) => {
    const path = url.replace(/^file:\/\//, "");
    const bundle = bundleOf(path);
    if (bundle) {
      let inBundle = modules.get(bundle);
      if (!inBundle) {
        inBundle = bundleModules(readFileSync(bundle, "utf8"));
        modules.set(bundle, inBundle);
      }
      return `${inBundle(line) ?? path} (bundle line ${line})`;
    }
    const root = env.root.endsWith("/") ? env.root : `${env.root}/`;
    return `${path.startsWith(root) ? path.slice(root.length) : shortUrl(url)}:${line}`;
  };
}

/** Just enough of the Chrome DevTools protocol to run the profiler in a V8 inspector. */
class Inspector {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id!);
      if (message.error) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
    socket.on("close", () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error("the inspector closed"));
      this.pending.clear();
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      webSocketDebuggerUrl: string;
    }>;
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`no inspector target on port ${port}`);
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return new Inspector(socket);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

export const PROFILE_COLUMNS = ["runtime", "#", "function", "where", "self ms", "% of samples"] as const;

export function profileMarkdown(profiles: readonly RuntimeProfile[]): string[] {
  if (!profiles.length) return [];
  const rows = profiles.flatMap((p) =>
    p.failed
      ? [[p.runtime, DASH, `failed: ${p.failed.replace(/\|/g, "/").split("\n")[0]!.slice(0, 120)}`, DASH, DASH, DASH]]
      : p.top.map((f, i) => [
          p.runtime,
          String(i + 1),
          `\`${f.name}\``,
          f.location ? `\`${f.location}\`` : DASH,
          f.selfMs.toFixed(1),
          f.percent.toFixed(1),
        ]),
  );
  const how = profiles
    .map(
      (p) =>
        `${p.runtime}: ${p.how}, ${p.durationS} s, ${p.samples} samples, ${p.requests} requests` +
        (p.overheadSamples ? ` (and ${p.overheadSamples} samples of the inspector's own events, left out)` : ""),
    )
    .join("; ");
  return [
    PROFILE_HEADING,
    "",
    `The five functions with the most self time in each runtime's \`<runtime>-rr-memory\` server, profiled under a separate load after its measured row (a fresh process, warmed up first; the profiler never runs during a measured row). ` +
      `Self ms = the function's samples × the 1 ms sampling interval; shares are of the non-idle samples taken during that load; time spent outside JavaScript (the runtime's own networking) shows as \`(program)\`, and workerd samples only while the Worker's isolate runs, so its CPU µs/req column is the fuller measure there. ${how}.`,
    "",
    table(PROFILE_COLUMNS, rows, 4),
    "",
  ];
}
