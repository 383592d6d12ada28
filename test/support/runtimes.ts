// Starts the balancer on a server runtime (Node, Bun or Deno) as a real child process, exactly
// as `npm run lb`, `npm run lb:bun` and `npm run lb:deno` do: the Bun and Deno commands are read
// from package.json's scripts, with the binary the bun and deno devDependencies installed.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export type ServerRuntime = "node" | "bun" | "deno";
export const SERVER_RUNTIMES: readonly ServerRuntime[] = ["node", "bun", "deno"];

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The first existing real executable (a placeholder left by a skipped postinstall is tiny). */
function binary(name: string, candidates: readonly string[]): string {
  for (const candidate of candidates) {
    const path = join(ROOT, candidate);
    if (existsSync(path) && statSync(path).size > 1_000_000) return path;
  }
  throw new Error(`${name} is not installed: run \`npm ci\` (the ${name} devDependency ships its binary)`);
}

export const bunBinary = () =>
  binary("bun", [
    "node_modules/bun/bin/bun.exe",
    // Where the binary sits before bun's postinstall moves it into bun/bin.
    "node_modules/@oven/bun-linux-x64/bin/bun",
    "node_modules/@oven/bun-linux-x64-baseline/bin/bun",
    "node_modules/@oven/bun-linux-aarch64/bin/bun",
  ]);

export const denoBinary = () =>
  binary("deno", [
    "node_modules/deno/deno",
    "node_modules/@deno/linux-x64-glibc/deno",
    "node_modules/@deno/linux-arm64-glibc/deno",
  ]);

/** The command of `npm run <script>`, split into words, with its first word (the runtime) resolved. */
function scriptCommand(script: string, resolve: () => string): { command: string; args: string[] } {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> })
    .scripts;
  const text = scripts[script];
  if (!text) throw new Error(`package.json has no "${script}" script`);
  const [, ...args] = text.trim().split(/\s+/);
  return { command: resolve(), args };
}

export function commandOf(runtime: ServerRuntime): { command: string; args: string[] } {
  switch (runtime) {
    case "node":
      // `npm run lb` is `tsx src/runtime/node.ts`; the loader form skips tsx's own wrapper process.
      return { command: process.execPath, args: ["--import", "tsx", "src/runtime/node.ts"] };
    case "bun":
      return scriptCommand("lb:bun", bunBinary);
    case "deno":
      return scriptCommand("lb:deno", denoBinary);
  }
}

/**
 * Spawns the balancer with `args`. The test's own BACKENDS, LB_CONFIG and TRUST_PROXY are
 * cleared so only what the test passes counts.
 */
export function spawnServer(
  runtime: ServerRuntime,
  args: readonly string[],
  env: Record<string, string> = {},
): ChildProcess {
  const { command, args: base } = commandOf(runtime);
  return spawn(command, [...base, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      BACKENDS: "",
      LB_CONFIG: "",
      TRUST_PROXY: "",
      SHUTDOWN_TIMEOUT_MS: "",
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export interface RunningServer {
  readonly runtime: ServerRuntime;
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function lines(stream: NodeJS.ReadableStream, into: string[], onLine?: (line: string) => void): void {
  let partial = "";
  stream.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop()!;
    for (const line of parts) {
      if (line.trim() === "") continue;
      into.push(line);
      onLine?.(line);
    }
  });
}

/** Starts the balancer on 127.0.0.1 and a free port; resolves once it prints the seed's start-up line. */
export async function startServer(
  runtime: ServerRuntime,
  args: readonly string[],
  env?: Record<string, string>,
): Promise<RunningServer> {
  const child = spawnServer(runtime, ["--port=0", "--host=127.0.0.1", ...args], env);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    lines(child.stderr!, stderr);
    lines(child.stdout!, stdout, (line) => {
      const match = /Load Balancer started at :(\d+)/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) => reject(new Error(`${runtime} balancer exited with ${code}: ${stderr.join("\n")}`)));
  });
  return {
    runtime,
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    stdout,
    stderr,
    exited,
    stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the balancer to completion (it is expected to refuse to start) and returns what it said. */
export function runServer(runtime: ServerRuntime, args: readonly string[], env?: Record<string, string>) {
  const child = spawnServer(runtime, args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
