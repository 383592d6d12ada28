// What the bench measures, row by row, and how each row's server is started: workerd from a
// generated config (capnp text), Node from an esbuild bundle of src/runtime/node.ts, Bun and
// Deno from their entry points, nginx and HAProxy from generated configs. Every server listens
// on a free 127.0.0.1 port, runs in the foreground as the current user, and is polled until it
// answers.

import {
  accessSync,
  constants,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { Algorithm } from "../../src/balancer/registry.ts";
import { WORKER_COMPATIBILITY, type WorkerBuild, type WorkerModule } from "../build-worker.ts";
import { freePort } from "../redis-local.ts";
import type { SessionLoad } from "./load.ts";
import { type Proc, startProcess, waitForHttp } from "./processes.ts";
import { routedConfig } from "./routing-config.ts";

export type Runtime = "workerd" | "node" | "bun" | "deno";
export type Store = "memory" | "upstash" | "durable-object";
export type RowKind = "direct" | "bare" | "balancer" | "nginx" | "haproxy";

export interface RowSpec {
  /** Stable id, e.g. "node-rr-memory". */
  readonly id: string;
  /** "workerd", "node", "bun", "deno", "nginx", "haproxy" or "-" (direct). */
  readonly runtime: string;
  readonly kind: RowKind;
  /** What runs, as the table shows it: "edge-lb round-robin", "bare fetch proxy", ... */
  readonly what: string;
  readonly algorithm?: Algorithm;
  readonly store?: Store;
  /** Header affinity on this header; the load sends one of `sessions` values with each request. */
  readonly affinity?: SessionLoad;
  /** Ten routes over three pools (routing-config.ts), the load matching only the last. */
  readonly routes?: boolean;
  /** LOG_FORMAT=json with a record per request; every other balancer row logs nothing per request. */
  readonly jsonLog?: boolean;
  /** The seed's "Forwarding request to: ..." line per request (LOG_REQUESTS=true, the default). */
  readonly textLog?: boolean;
  /** Node only: upstream calls through Node's global fetch (EDGE_LB_GLOBAL_FETCH=1), for comparison. */
  readonly globalFetch?: boolean;
}

/** The JSON access-log rows: round robin on memory, with a record per request written to stdout. */
export const JSON_LOG_SUFFIX = "-json";
export const isJsonLogRow = (row: { readonly id: string }) => row.id.endsWith(JSON_LOG_SUFFIX);
/** The text request-log rows: round robin on memory with the seed's line per request (the default). */
export const TEXT_LOG_SUFFIX = "-log";
export const isTextLogRow = (row: { readonly id: string }) => row.id.endsWith(TEXT_LOG_SUFFIX);

/**
 * Node's round robin on memory with upstream calls through the global fetch (its global
 * dispatcher) instead of the balancer's keep-alive pool per backend: what that pool saves.
 */
export const GLOBAL_FETCH_SUFFIX = "-global-dispatcher";
export const isGlobalFetchRow = (row: { readonly id: string }) => row.id.endsWith(GLOBAL_FETCH_SUFFIX);

export interface Running {
  /** Where the load goes. */
  readonly url: string;
  /** The server process whose tree's peak RSS is reported (none for the direct row). */
  readonly proc?: Proc;
  /** GET /_lb/status (edge-lb rows only). */
  readonly statusUrl?: string;
  stop(): Promise<void>;
}

export interface BenchEnv {
  readonly root: string;
  readonly workDir: string;
  readonly upstreams: readonly string[];
  readonly adminToken: string;
  readonly upstash?: { readonly url: string; readonly token: string };
  /** esbuild bundles made for this run; the Worker is an entry module and the modules beside it. */
  readonly worker: WorkerBuild;
  /** The same Worker unminified, for the CPU profile (profile.ts). */
  readonly profileWorker: WorkerBuild;
  readonly nodeBundle: string;
  readonly nodeBareBundle: string;
  readonly bins: {
    readonly workerd: string;
    readonly bun?: string;
    readonly deno?: string;
    readonly nginx?: string;
    readonly haproxy?: string;
  };
  /** How Bun and Deno start the balancer entry: argv before the flags. */
  readonly balancerCommand: Partial<Record<"bun" | "deno", readonly string[]>>;
}

const ALGORITHM_SHORT: Record<string, string> = {
  "round-robin": "rr",
  "weighted-round-robin": "wrr",
  "ip-hash": "iphash",
  "least-connections": "lc",
  "least-response-time": "lrt",
};

/**
 * The rows for one runtime: bare proxy, three algorithms on memory, round robin again with the
 * JSON access log on (its cost beside the row without), round robin on the shared stores.
 */
/**
 * The rows of one runtime. `brief` (the tiny run the test suite makes, for Bun and Deno) keeps the
 * rows every runtime must have and leaves the per-feature ones to workerd and Node, so the whole
 * tiny run stays under a minute.
 */
export function runtimeRows(runtime: Runtime, options: { upstash: boolean; brief?: boolean }): RowSpec[] {
  const rows: RowSpec[] = [{ id: `${runtime}-bare`, runtime, kind: "bare", what: "bare fetch proxy (1 upstream)" }];
  const algorithms = options.brief
    ? (["round-robin"] as const)
    : (["round-robin", "ip-hash", "least-connections"] as const);
  for (const algorithm of algorithms) {
    rows.push(balancerRow(runtime, algorithm, "memory"));
    if (algorithm === "round-robin" && !options.brief) rows.push(routedRow(runtime));
    if (algorithm === "round-robin" && runtime === "node") rows.push(globalFetchRow());
  }
  const plain = balancerRow(runtime, "round-robin", "memory");
  rows.push({ ...plain, id: `${plain.id}${JSON_LOG_SUFFIX}`, what: `${plain.what}, JSON access log`, jsonLog: true });
  if (!options.brief) {
    rows.push({
      ...plain,
      id: `${plain.id}${TEXT_LOG_SUFFIX}`,
      what: `${plain.what}, request log line`,
      textLog: true,
    });
  }
  if (options.upstash) rows.push(balancerRow(runtime, "round-robin", "upstash"));
  if (runtime === "workerd") rows.push(balancerRow(runtime, "round-robin", "durable-object"));
  return rows;
}

export function balancerRow(runtime: Runtime, algorithm: Algorithm, store: Store): RowSpec {
  return {
    id: `${runtime}-${ALGORITHM_SHORT[algorithm]}-${store === "durable-object" ? "do" : store}`,
    runtime,
    kind: "balancer",
    what: `edge-lb ${algorithm}`,
    algorithm,
    store,
  };
}

/** Node's round robin on memory through the global fetch (GLOBAL_FETCH_SUFFIX). */
export function globalFetchRow(): RowSpec {
  const row = balancerRow("node", "round-robin", "memory");
  return {
    ...row,
    id: `${row.id}${GLOBAL_FETCH_SUFFIX}`,
    what: `${row.what}, Node's global fetch upstream`,
    globalFetch: true,
  };
}

/** Round robin on memory behind ten routes and three pools: what routing adds per request. */
export function routedRow(runtime: Runtime): RowSpec {
  const row = balancerRow(runtime, "round-robin", "memory");
  return { ...row, id: `${row.id}-routes`, what: `${row.what}, 10 routes, 3 pools`, routes: true };
}

export const DIRECT_ROW: RowSpec = {
  id: "direct",
  runtime: "-",
  kind: "direct",
  what: "direct to one upstream (no proxy)",
};
export const NGINX_ROW: RowSpec = {
  id: "nginx",
  runtime: "nginx",
  kind: "nginx",
  what: "nginx round robin, keepalive",
};
export const HAPROXY_ROW: RowSpec = {
  id: "haproxy",
  runtime: "haproxy",
  kind: "haproxy",
  what: "HAProxy roundrobin, http-reuse",
};

/** Starts the server for `row` and resolves once it answers; the caller stops it. */
export async function startRow(row: RowSpec, env: BenchEnv, options: SpawnOptions = {}): Promise<Running> {
  switch (row.kind) {
    case "direct":
      return { url: `${env.upstreams[0]}/`, stop: async () => undefined };
    case "bare":
    case "balancer": {
      const spawned = await spawnRow(row, env, options);
      const running = await ready(spawned.proc, spawned.url, spawned.readyUrl);
      return spawned.statusUrl ? { ...running, statusUrl: spawned.statusUrl } : running;
    }
    case "nginx":
      return startNginx(env);
    case "haproxy":
      return startHaproxy(env);
  }
}

export interface SpawnOptions {
  /** Flags for the runtime itself (before the script; after `workerd serve CONFIG`), e.g. --cpu-prof. */
  readonly runtimeFlags?: readonly string[];
  /** Node and workerd balancers: a command the runtime runs under (valgrind and its flags: feature-instructions.ts). */
  readonly wrapper?: readonly string[];
  /** workerd only: V8 flags, which it takes from its config (Config.v8Flags), not its command line. */
  readonly v8Flags?: readonly string[];
}

/** A bare proxy's or the balancer's process, just started: not yet answering. */
export interface Spawned {
  readonly proc: Proc;
  /** Where the load goes. */
  readonly url: string;
  /** What answers 200 once it serves (the balancer's /_lb/healthz). */
  readonly readyUrl: string;
  readonly statusUrl?: string;
}

/** Starts a bare proxy or the balancer for `row` without waiting for it (cold-start.ts times that). */
export async function spawnRow(row: RowSpec, env: BenchEnv, options: SpawnOptions = {}): Promise<Spawned> {
  if (row.kind === "bare") return spawnBare(row, env, options.runtimeFlags ?? []);
  if (row.kind === "balancer") return spawnBalancer(row, env, options.runtimeFlags ?? [], options);
  throw new Error(`${row.id}: only bare and balancer rows are spawned`);
}

async function ready(proc: Proc, url: string, readyUrl = url): Promise<Running> {
  try {
    await waitForHttp(readyUrl, proc, { expectStatus: 200 });
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { url, proc, stop: () => proc.stop() };
}

// ---------------------------------------------------------------------------------------------
// Bare proxies

async function spawnBare(row: RowSpec, env: BenchEnv, flags: readonly string[]): Promise<Spawned> {
  const port = await freePort();
  const upstream = env.upstreams[0]!;
  const url = `http://127.0.0.1:${port}/`;
  const here = join(env.root, "scripts", "bench", "bare");
  const spawned = (proc: Proc): Spawned => ({ proc, url, readyUrl: url });
  switch (row.runtime) {
    case "workerd": {
      const dir = rowDir(env, row.id);
      copyFileSync(join(here, "workerd.js"), join(dir, "worker.js"));
      const config = workerdConfig({
        port,
        modules: [{ name: "worker.js", type: "esModule" }],
        bindings: { UPSTREAM: upstream },
      });
      return spawned(startWorkerd(row.id, dir, config, env, flags));
    }
    case "node":
      return spawned(startProcess(row.id, process.execPath, [...flags, env.nodeBareBundle, upstream, String(port)]));
    case "bun":
      return spawned(
        startProcess(row.id, env.bins.bun!, [...flags, join(here, "bun.ts"), upstream, String(port)], {
          cwd: env.root,
        }),
      );
    case "deno":
      return spawned(
        startProcess(
          row.id,
          env.bins.deno!,
          ["run", ...flags, "--allow-net", join(here, "deno.ts"), upstream, String(port)],
          { cwd: env.root },
        ),
      );
    default:
      throw new Error(`no bare proxy for ${row.runtime}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The balancer

function balancerSettings(row: RowSpec, env: BenchEnv): Record<string, string> {
  const settings: Record<string, string> = {
    BACKENDS: env.upstreams.join(","),
    ALGORITHM: row.algorithm!,
    STATE: row.store!,
    STATE_PREFIX: `bench-${row.id}-${Date.now()}`,
    LOG_REQUESTS: row.jsonLog || row.textLog ? "true" : "false",
    LOG_FORMAT: row.jsonLog ? "json" : "text",
    ADMIN_TOKEN: env.adminToken,
  };
  if (row.globalFetch) settings["EDGE_LB_GLOBAL_FETCH"] = "1";
  if (row.routes) {
    delete settings["BACKENDS"];
    delete settings["ALGORITHM"];
    settings["LB_CONFIG"] = JSON.stringify(routedConfig(env.upstreams));
  }
  if (row.affinity) {
    settings["AFFINITY"] = "header";
    settings["AFFINITY_HEADERS"] = row.affinity.header;
  }
  if (row.store === "upstash") {
    if (!env.upstash) throw new Error(`${row.id} needs the local Upstash server`);
    settings["UPSTASH_REDIS_REST_URL"] = env.upstash.url;
    settings["UPSTASH_REDIS_REST_TOKEN"] = env.upstash.token;
  }
  return settings;
}

async function spawnBalancer(
  row: RowSpec,
  env: BenchEnv,
  flags: readonly string[],
  { wrapper = [], v8Flags }: Pick<SpawnOptions, "wrapper" | "v8Flags"> = {},
): Promise<Spawned> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const settings = balancerSettings(row, env);
  const urls = { url: `${base}/`, readyUrl: `${base}/_lb/healthz`, statusUrl: `${base}/_lb/status` };
  if (row.runtime === "workerd") {
    const dir = rowDir(env, row.id);
    cpSync(env.worker.dir, dir, { recursive: true });
    const durableObjects = row.store === "durable-object";
    if (durableObjects) mkdirSync(join(dir, "do"), { recursive: true });
    const config = workerdConfig({
      port,
      modules: env.worker.modules,
      bindings: settings,
      durableObjectsDir: durableObjects ? join(dir, "do") : undefined,
      v8Flags,
    });
    return { proc: startWorkerd(row.id, dir, config, env, flags, wrapper, outputFileOf(env, row, port)), ...urls };
  }
  // The settings go as environment variables, as `npm run lb` reads them; nothing inherited.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LB_CONFIG: "", ...settings };
  const serverFlags = [`--port=${port}`, "--host=127.0.0.1"];
  let command: string;
  let args: string[];
  if (row.runtime === "node") {
    [command, ...args] = [...wrapper, process.execPath, ...flags, env.nodeBundle, ...serverFlags] as [
      string,
      ...string[],
    ];
  } else {
    const prefix = env.balancerCommand[row.runtime as "bun" | "deno"];
    if (!prefix) throw new Error(`no command for the ${row.runtime} entry point`);
    // The runtime's own flags go after `bun` / `deno run`, before the script and its flags.
    const at = row.runtime === "deno" ? 2 : 1;
    [command, ...args] = [...prefix.slice(0, at), ...flags, ...prefix.slice(at), ...serverFlags] as [
      string,
      ...string[],
    ];
  }
  return {
    proc: startProcess(row.id, command, args, {
      env: childEnv,
      cwd: env.root,
      outputFile: outputFileOf(env, row, port),
    }),
    ...urls,
  };
}

// ---------------------------------------------------------------------------------------------
// workerd

function rowDir(env: BenchEnv, id: string): string {
  const dir = join(env.workDir, id);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A capnp text literal (the JSON escapes are valid capnp escapes for these strings). */
const capnpText = (value: string) => JSON.stringify(value);

/**
 * A workerd config: one Worker from its modules (the entry first), text bindings, served on 127.0.0.1:port,
 * whose fetch() may reach loopback (the default "internet" service allows public addresses
 * only). With durableObjectsDir, the balancer's PoolStateObject class as a SQLite-backed
 * namespace bound as LB_STATE (its synchronous KV API needs SQLite, which workerd gives
 * durable objects on local disk, not in memory).
 */
export function workerdConfig(options: {
  port: number;
  modules: readonly Pick<WorkerModule, "name" | "type">[];
  bindings: Record<string, string>;
  durableObjectsDir?: string | undefined;
  v8Flags?: readonly string[] | undefined;
}): string {
  const bindings = Object.entries(options.bindings).map(
    ([name, value]) => `    (name = ${capnpText(name)}, text = ${capnpText(value)}),`,
  );
  const services = [
    `    (name = "main", worker = .worker),`,
    `    (name = "internet", network = (allow = ["public", "private", "local"])),`,
  ];
  let durable = "";
  if (options.durableObjectsDir) {
    services.push(`    (name = "do-disk", disk = (path = ${capnpText(options.durableObjectsDir)}, writable = true)),`);
    bindings.push(`    (name = "LB_STATE", durableObjectNamespace = "PoolStateObject"),`);
    durable = [
      `  durableObjectNamespaces = [`,
      `    (className = "PoolStateObject", uniqueKey = "edge-lb-bench-pool-state", enableSql = true),`,
      `  ],`,
      `  durableObjectStorage = (localDisk = "do-disk"),`,
    ].join("\n");
  }
  return `# Generated by scripts/bench/targets.ts for one bench row.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
${options.v8Flags?.length ? `  v8Flags = [${options.v8Flags.map(capnpText).join(", ")}],\n` : ""}  services = [
${services.join("\n")}
  ],
  sockets = [
    (name = "http", address = ${capnpText(`127.0.0.1:${options.port}`)}, http = (), service = "main"),
  ],
);

const worker :Workerd.Worker = (
  modules = [
${options.modules.map((module) => `    (name = ${capnpText(module.name)}, ${module.type} = embed ${capnpText(module.name)}),`).join("\n")}
  ],
  compatibilityDate = ${capnpText(WORKER_COMPATIBILITY.date)},
  compatibilityFlags = [${WORKER_COMPATIBILITY.flags.map(capnpText).join(", ")}],
  bindings = [
${bindings.join("\n")}
  ],
${durable}
);
`;
}

function startWorkerd(
  id: string,
  dir: string,
  config: string,
  env: BenchEnv,
  flags: readonly string[] = [],
  wrapper: readonly string[] = [],
  outputFile?: string,
): Proc {
  const file = join(dir, "config.capnp");
  writeFileSync(file, config);
  const [command, ...args] = [...wrapper, env.bins.workerd, "serve", file, ...flags] as [string, ...string[]];
  return startProcess(id, command, args, { cwd: dir, ...(outputFile ? { outputFile } : {}) });
}

/** A balancer's stdout and stderr: a file per process in its row's directory (StartOptions.outputFile). */
function outputFileOf(env: BenchEnv, row: RowSpec, port: number): string {
  return join(rowDir(env, row.id), `output-${port}.log`);
}

// ---------------------------------------------------------------------------------------------
// nginx and HAProxy

export const PROXY_INSTALL_HINT = "apt-get install -y nginx haproxy wrk";

/** An executable named `name` on PATH or in the sbin directories (root-only on some systems). */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin"].filter(Boolean);
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

async function startNginx(env: BenchEnv): Promise<Running> {
  const port = await freePort();
  const dir = rowDir(env, "nginx");
  for (const sub of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"])
    mkdirSync(join(dir, sub), { recursive: true });
  // As root, nginx would switch its workers to "nobody", whose group Debian lacks: stay root.
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  const config = `# Generated by scripts/bench/targets.ts: one worker (as the single-threaded runtimes), keepalive upstreams.
${user}daemon off;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "logs", "error.log")} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "client_body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  upstream backends {
${env.upstreams.map((u) => `    server ${new URL(u).host};`).join("\n")}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const file = join(dir, "nginx.conf");
  writeFileSync(file, config);
  const proc = startProcess("nginx", env.bins.nginx!, ["-p", dir, "-c", file, "-e", join(dir, "logs", "error.log")], {
    cwd: dir,
  });
  return ready(proc, `http://127.0.0.1:${port}/`);
}

async function startHaproxy(env: BenchEnv): Promise<Running> {
  const port = await freePort();
  const dir = rowDir(env, "haproxy");
  const config = `# Generated by scripts/bench/targets.ts: one thread (as the single-threaded runtimes), idle upstream connections reused.
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always

frontend bench
  bind 127.0.0.1:${port}
  default_backend upstreams

backend upstreams
  balance roundrobin
${env.upstreams.map((u, i) => `  server s${i + 1} ${new URL(u).host}`).join("\n")}
`;
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config);
  // -db: foreground, no daemon, no master process.
  const proc = startProcess("haproxy", env.bins.haproxy!, ["-db", "-f", file], { cwd: dir });
  return ready(proc, `http://127.0.0.1:${port}/`);
}

// ---------------------------------------------------------------------------------------------
// Bun and Deno entry points (src/runtime/bun.ts, deno.ts)

/**
 * How to start src/runtime/<runtime>.ts, or why not: the entry file must exist and the binary
 * must run. `npm run lb:bun` / `lb:deno` in package.json, when present, give the arguments.
 */
export function balancerCommandFor(
  runtime: "bun" | "deno",
  root: string,
  binary: string | undefined,
): { command?: string[]; missing?: string } {
  const entry = join("src", "runtime", `${runtime}.ts`);
  if (!existsSync(join(root, entry))) return { missing: `${entry} does not exist yet` };
  if (!binary) return { missing: `npx ${runtime} does not run here (npm install brings it as a devDependency)` };
  const scripts =
    (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts?: Record<string, string> }).scripts ??
    {};
  const script = scripts[`lb:${runtime}`];
  if (script && /^\s*(npx\s+)?(bun|deno)\s/.test(script) && !/[;&|<>$`]/.test(script)) {
    const words = script.trim().split(/\s+/);
    if (words[0] === "npx") words.shift();
    words[0] = binary;
    return { command: words };
  }
  return { command: runtime === "bun" ? [binary, entry] : [binary, "run", "-A", entry] };
}
