// Deno KV stores for the contract suite: one Deno process (test/support/deno-kv-server.ts) holds
// two DenoKvStores on one database file, and the test drives them over HTTP on 127.0.0.1.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StateStore } from "../../src/state/types.ts";
import { denoBinary, ROOT } from "./runtimes.ts";

export interface DenoKvStores {
  /** Two instances sharing the database. */
  readonly stores: readonly [StateStore, StateStore];
  /** KV operations the two have made so far. */
  ops(): number;
  stop(): Promise<void>;
}

/** A thrown error as the server named it, rebuilt with its own class where it is a standard one. */
function rebuild({ name, message }: { name: string; message: string }): Error {
  const classes: Record<string, ErrorConstructor> = { TypeError, RangeError };
  const error = new (classes[name] ?? Error)(message);
  if (!(name in classes)) error.name = name;
  return error;
}

/** NaN, the infinities and undefined as tags JSON can carry (the server revives them). */
const tag = (_key: string, value: unknown): unknown =>
  value === undefined || (typeof value === "number" && !Number.isFinite(value)) ? { $special: String(value) } : value;

export async function startDenoKvStores(): Promise<DenoKvStores> {
  const dir = mkdtempSync(join(tmpdir(), "edge-lb-denokv-"));
  const child: ChildProcess = spawn(
    denoBinary(),
    [
      "run",
      "--unstable-kv",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "test/support/deno-kv-server.ts",
    ],
    {
      cwd: ROOT,
      env: { ...process.env, KV_PATH: join(dir, "kv.sqlite"), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      const match = /listening (\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`deno-kv server exited: ${stderr}`)));
  });
  let ops = 0;
  const call = async (store: number, method: string, args: unknown[]): Promise<unknown> => {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: "POST",
      body: JSON.stringify({ store, method, args }, tag),
    });
    const answer = (await response.json()) as {
      result?: unknown;
      error?: { name: string; message: string };
      ops: number;
    };
    ops = Math.max(ops, answer.ops);
    if (answer.error) throw rebuild(answer.error);
    return answer.result;
  };
  const proxy = (store: number): StateStore =>
    ({
      kind: "deno-kv",
      reserve: (...args: unknown[]) => call(store, "reserve", args),
      sync: (...args: unknown[]) => call(store, "sync", args),
      setBackend: (...args: unknown[]) => call(store, "setBackend", args).then(() => undefined),
      tryLock: (...args: unknown[]) => call(store, "tryLock", args),
      claimSession: (...args: unknown[]) => call(store, "claimSession", args),
    }) as unknown as StateStore;
  return {
    stores: [proxy(0), proxy(1)],
    ops: () => ops,
    async stop() {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
