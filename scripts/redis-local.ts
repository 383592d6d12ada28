// Starts a throwaway redis-server (Debian's binary on PATH) on a free 127.0.0.1 port, with no
// persistence, and the upstash-local REST server in front of it:
//
//   npm run redis:local [-- --port=8079 --token=secret]
//
// prints UPSTASH_REDIS_REST_URL=... and UPSTASH_REDIS_REST_TOKEN=..., and stops both on Ctrl-C
// or SIGTERM. The helpers exported here are also what the tests use (test/support/redis.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { pingRedis } from "./redis-connections.ts";
import { parsePort, startUpstashLocal, type UpstashLocalOptions } from "./upstash-local.ts";

export const REDIS_INSTALL_HINT = "apt-get install redis-server";

/** The redis-server binary to run: $REDIS_SERVER_BIN or redis-server from PATH. */
export function redisServerBinary(): string {
  return process.env.REDIS_SERVER_BIN || "redis-server";
}

/** Whether redis-server can be run (found on PATH, or $REDIS_SERVER_BIN is executable). */
export function redisServerAvailable(): boolean {
  const bin = redisServerBinary();
  const candidates = bin.includes("/")
    ? [bin]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, bin));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** A port that was free a moment ago on `host` (the OS picks it). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  host: string;
  port: number;
  /** PID of the running redis-server, undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Stops redis-server (SIGTERM, or SIGKILL to simulate a crash) and waits for it to exit. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port (stopping it first if it runs); the data is gone. */
  restart(): Promise<void>;
  /** SIGSTOP: the port stays open but nothing answers (a hung store). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface RedisServerOptions {
  /** Fixed port; by default a free one. */
  port?: number;
  host?: string;
  /** Extra redis-server arguments, e.g. ["--maxmemory", "10mb"]. */
  args?: string[];
  /** How long to wait for PING to succeed (default 15 s). */
  readyTimeoutMs?: number;
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave a redis-server behind when the process that started it goes away.
  process.once("exit", () => {
    for (const child of liveChildren) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts redis-server and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!redisServerAvailable()) {
    throw new Error(`redis-server not found on PATH (install it: ${REDIS_INSTALL_HINT})`);
  }
  installExitHook();
  const host = options.host ?? "127.0.0.1";
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  let port = options.port ?? (await freePort(host));
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let redisUrl = `redis://${urlHost}:${port}`;
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  async function launch(): Promise<void> {
    dir = mkdtempSync(join(tmpdir(), "edge-lb-redis-"));
    const proc = spawn(
      redisServerBinary(),
      [
        "--port",
        String(port),
        "--bind",
        host,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        ...(options.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    liveChildren.add(proc);
    let output = "";
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-4000);
    };
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    let spawnError: Error | undefined;
    proc.once("error", (error) => {
      spawnError = error;
    });
    proc.once("exit", () => liveChildren.delete(proc));

    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`could not start redis-server: ${spawnError.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `redis-server exited (${proc.exitCode ?? proc.signalCode}) before answering on port ${port}:\n${output.trim()}`,
        );
      }
      if (await pingRedis(redisUrl)) return;
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(
          `redis-server did not answer PING on ${host}:${port} within ${readyTimeoutMs} ms:\n${output.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      try {
        proc.kill("SIGCONT"); // a paused server cannot act on SIGTERM
      } catch {
        // gone already
      }
      proc.kill(signal);
      const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await waitForExit(proc);
      clearTimeout(killer);
    }
    if (dir) {
      rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    }
  }

  // A port that was free can be taken before redis binds it: try a few others unless fixed.
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await stop("SIGKILL");
      const portClash = /address already in use/i.test(String((error as Error).message));
      if (!portClash || options.port !== undefined || attempt >= 4) throw error;
      port = await freePort(host);
      redisUrl = `redis://${urlHost}:${port}`;
    }
  }

  return {
    url: redisUrl,
    host,
    port,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    stop,
    async restart() {
      await stop();
      try {
        await launch();
      } catch (error) {
        await stop("SIGKILL");
        throw error;
      }
    },
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
  };
}

const USAGE = "usage: npm run redis:local [-- --port=PORT --token=TOKEN]";

function cliOptions(argv: string[]): Omit<UpstashLocalOptions, "redisUrl"> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: "string" }, token: { type: "string" } },
    strict: true,
    allowPositionals: false,
  });
  const port = parsePort(values.port);
  return { ...(port !== undefined ? { port } : {}), ...(values.token ? { token: values.token } : {}) };
}

async function main(): Promise<void> {
  let cli: Omit<UpstashLocalOptions, "redisUrl">;
  try {
    cli = cliOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (!redisServerAvailable()) {
    console.error(`redis-server not found on PATH. Install it with: ${REDIS_INSTALL_HINT}`);
    process.exit(1);
  }
  const redis = await startRedisServer();
  const opts: UpstashLocalOptions = { ...cli, redisUrl: redis.url };
  let upstash: Awaited<ReturnType<typeof startUpstashLocal>>;
  try {
    upstash = await startUpstashLocal(opts);
  } catch (error) {
    await redis.stop();
    throw error;
  }
  console.log(`# redis-server ${redis.url} (pid ${redis.pid}), no persistence`);
  console.log(`UPSTASH_REDIS_REST_URL=${upstash.url}`);
  console.log(`UPSTASH_REDIS_REST_TOKEN=${upstash.token}`);
  console.log("# Ctrl-C stops both");

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    Promise.allSettled([upstash.close(), redis.stop()]).then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
