import type { ChildProcess } from "node:child_process";
import { runServer, spawnServer, startServer } from "./runtimes.ts";

// The Node CLI's launcher; test/support/runtimes.ts starts any server runtime (Node, Bun, Deno).

export interface RunningLb {
  readonly url: string;
  readonly process: ChildProcess;
  readonly stdout: string[];
  stop(): Promise<void>;
}

/** Runs the Node CLI exactly as `npm run lb -- ...` does, as a child process. */
export function spawnLb(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawnServer("node", args, env);
}

/** Starts the CLI on a free port and resolves once it prints the seed's start-up line. */
export async function startNodeLb(args: readonly string[], env?: Record<string, string>): Promise<RunningLb> {
  const server = await startServer("node", args, env);
  return {
    url: server.url,
    process: server.process,
    stdout: server.stdout,
    stop: async () => {
      await server.stop();
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export function runLb(args: readonly string[], env?: Record<string, string>) {
  return runServer("node", args, env);
}
