import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { WORKER_COMPATIBILITY, WORKER_MAIN, WORKER_MODULE_RULES } from "../../scripts/build-worker.ts";

/**
 * Where the global setup builds the Worker for the suites: beside wrangler's dist/worker/, not in
 * it, so a test run never empties the directory a running `wrangler dev` serves.
 */
export const TEST_WORKER_DIR = fileURLToPath(new URL("../../dist/test-worker/", import.meta.url));

export interface WorkerInstance {
  readonly mf: Miniflare;
  /** Sends a request through miniflare's entry into the balancer Worker. */
  fetch(path: string, init?: RequestInit & { clientIp?: string }): Promise<Response>;
  /**
   * The same over miniflare's own HTTP listener, about twice as fast as dispatchFetch: for bulk
   * load where the Host the balancer sees (the listener's 127.0.0.1:port) does not matter.
   */
  direct(path: string, init?: RequestInit & { clientIp?: string }): Promise<Response>;
  /** miniflare's own HTTP listener: for requests undici's fetch refuses to send (Connection). */
  readonly url: URL;
  /** The Worker's console lines seen so far. */
  readonly logs: string[];
  dispose(): Promise<void>;
}

type DurableObjectDesignator = string | { className: string; useSQLite?: boolean };

export interface WorkerOptions {
  /**
   * miniflare's `durableObjects`, e.g. `{ LB_STATE: "PoolStateObject" }` (with bindings
   * `STATE: "durable-object"`). A bare class name is made SQLite-backed, as wrangler.toml
   * declares it (`new_sqlite_classes`); miniflare's own default would be the legacy KV backend.
   */
  readonly durableObjects?: Record<string, DurableObjectDesignator>;
  /**
   * miniflare's `durableObjectsPersist`: a directory keeps the objects' storage after dispose(),
   * so a second startWorker on it sees what a restarted object would. Default: a temporary
   * directory that dispose() removes.
   */
  readonly durableObjectsPersist?: string;
  /** miniflare's `kvNamespaces`: binding names of in-memory KV namespaces. */
  readonly kvNamespaces?: string[];
}

/** A real workerd process running the bundled balancer (built by the global setup). */
export async function startWorker(
  bindings: Record<string, string>,
  options: WorkerOptions = {},
): Promise<WorkerInstance> {
  const logs: string[] = [];
  const durableObjects = options.durableObjects
    ? Object.fromEntries(
        Object.entries(options.durableObjects).map(([binding, designator]) => [
          binding,
          typeof designator === "string" ? { className: designator, useSQLite: true } : designator,
        ]),
      )
    : undefined;
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(TEST_WORKER_DIR, WORKER_MAIN),
    // The entry's chunks and Text modules, found by following its imports (static and dynamic).
    modulesRules: WORKER_MODULE_RULES.map((rule) => ({ type: rule.type, include: [...rule.include] })),
    compatibilityDate: WORKER_COMPATIBILITY.date,
    compatibilityFlags: WORKER_COMPATIBILITY.flags,
    bindings: { LOG_REQUESTS: "false", ...bindings },
    ...(durableObjects ? { durableObjects } : {}),
    ...(options.kvNamespaces ? { kvNamespaces: options.kvNamespaces } : {}),
    ...(options.durableObjectsPersist !== undefined ? { durableObjectsPersist: options.durableObjectsPersist } : {}),
    cf: false,
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      for (const stream of [stdout, stderr]) {
        // Whole lines only: a chunk may end mid-line (a JSON record split in two would not parse).
        let partial = "";
        stream.on("data", (chunk: Buffer) => {
          const lines = (partial + chunk.toString()).split("\n");
          partial = lines.pop()!;
          logs.push(...lines.filter(Boolean));
        });
      }
    },
  });
  const url = await mf.ready;
  return {
    mf,
    url,
    logs,
    fetch(path, init = {}) {
      const { clientIp = "203.0.113.7", ...rest } = init;
      const headers = new Headers(rest.headers as HeadersInit | undefined);
      if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", clientIp);
      return mf.dispatchFetch(`http://balancer.test${path}`, {
        ...rest,
        headers,
      } as never) as unknown as Promise<Response>;
    },
    direct(path, init = {}) {
      const { clientIp = "203.0.113.7", ...rest } = init;
      const headers = new Headers(rest.headers as HeadersInit | undefined);
      if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", clientIp);
      return fetch(new URL(path, url), { ...rest, headers });
    },
    dispose: () => mf.dispose(),
  };
}

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface BackendStatus {
  name: string;
  url: string;
  health: "up" | "down";
  admin: string;
  inflight: number;
  ejected_until: number | null;
  reason: string | null;
}

export interface Status {
  pools: Array<{
    store: { roundTrips: number; sessionClaims: number; errors: number; degraded: boolean };
    panic: boolean;
    backends: BackendStatus[];
  }>;
}

/** GET /_lb/status with the test admin token (start the Worker with ADMIN_TOKEN set). */
export async function status(worker: WorkerInstance): Promise<Status> {
  const response = await worker.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`/_lb/status answered ${response.status}: ${await response.text()}`);
  return response.json();
}

export const backendStatus = (s: Status, url: string): BackendStatus =>
  s.pools[0]!.backends.find((b) => b.url === url)!;
