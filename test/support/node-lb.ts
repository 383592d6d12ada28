import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../../src/runtime/node.ts", import.meta.url));

export interface RunningLb {
  readonly url: string;
  readonly process: ChildProcess;
  readonly stdout: string[];
  stop(): Promise<void>;
}

/** Runs the Node CLI exactly as `npm run lb -- ...` does, as a child process. */
export function spawnLb(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    env: { ...process.env, BACKENDS: "", LB_CONFIG: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Starts the CLI on a free port and resolves once it prints the seed's start-up line. */
export async function startNodeLb(args: readonly string[], env?: Record<string, string>): Promise<RunningLb> {
  const child = spawnLb(["--port=0", "--host=127.0.0.1", ...args], env);
  const stdout: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let errors = "";
    child.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter(Boolean)) {
        stdout.push(line);
        const match = /Load Balancer started at :(\d+)/.exec(line);
        if (match) resolve(Number(match[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`balancer exited with ${code}: ${errors}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stdout,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runLb(args: readonly string[], env?: Record<string, string>) {
  const child = spawnLb(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
