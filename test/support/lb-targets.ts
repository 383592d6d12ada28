// One face for the balancer on every runtime, so a black-box suite can run unchanged against
// workerd (miniflare), Node, Bun and Deno. Settings are given by their environment names
// (BACKENDS, ALGORITHM, ...): the Worker gets them as vars, the server runtimes as the
// equivalent command-line flags (--backends, --algorithm, ...), the seed's way.
import { SETTINGS } from "../../src/config/settings.ts";
import { runServer, type ServerRuntime, startServer } from "./runtimes.ts";
import { startWorker } from "./worker.ts";

export type RuntimeName = "workerd" | ServerRuntime;

export interface LbTarget {
  /** The balancer's own listener, http://host:port (WebSocket clients connect to ws:// of it). */
  readonly url: string;
  /** Sends one request to the balancer; `path` starts with "/". */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
  /** Server runtimes: SIGTERM, resolving with the exit code, and everything the process printed. */
  readonly terminate?: () => Promise<{ code: number | null; output: string[] }>;
}

export interface Refusal {
  /** The runtime's refusal happened: a non-zero exit, or (Workers) 503 bad_config answers. */
  readonly refused: boolean;
  /** What it said: stderr, or (Workers) the 503's reason and the Worker's log. */
  readonly text: string;
}

export interface RuntimeAdapter {
  readonly name: RuntimeName;
  start(settings: Record<string, string>): Promise<LbTarget>;
  /** Starts with a bad configuration and reports how the runtime refused it. */
  refuse(settings: Record<string, string>): Promise<Refusal>;
  /** How a problem with the setting of environment name `env` is named to the user. */
  fieldName(env: string): string;
  /**
   * Settings and request headers that make the balancer see distinct clients for ip-hash. On
   * Workers the client address is CF-Connecting-IP, which a test may set; a server runtime
   * sees every test request come from 127.0.0.1, so there the hash key is a header instead.
   */
  readonly ipHash: {
    readonly settings: Record<string, string>;
    client(id: number): Record<string, string>;
  };
}

const flagOf = (env: string): string => {
  const flag = SETTINGS.find((s) => s.env === env)?.flag;
  if (!flag) throw new Error(`no command-line flag for ${env}`);
  return flag;
};

/** Secrets and store credentials have no flag: they are read from the environment only. */
const ENV_ONLY = new Set([
  ...SETTINGS.filter((s) => s.env && !s.flag).map((s) => s.env!),
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
]);

const toFlags = (settings: Record<string, string>) =>
  Object.entries({ LOG_REQUESTS: "false", ...settings })
    .filter(([env]) => !ENV_ONLY.has(env))
    .map(([env, value]) => `--${flagOf(env)}=${value}`);

const envOnly = (settings: Record<string, string>) =>
  Object.fromEntries(Object.entries(settings).filter(([env]) => ENV_ONLY.has(env)));

function serverAdapter(runtime: ServerRuntime): RuntimeAdapter {
  return {
    name: runtime,
    async start(settings) {
      const server = await startServer(runtime, toFlags(settings), envOnly(settings));
      return {
        url: server.url,
        fetch: (path, init) => fetch(`${server.url}${path}`, init),
        stop: async () => {
          await server.stop();
        },
        terminate: async () => ({ code: await server.stop("SIGTERM"), output: [...server.stdout, ...server.stderr] }),
      };
    },
    async refuse(settings) {
      const result = await runServer(
        runtime,
        ["--port=0", "--host=127.0.0.1", ...toFlags(settings)],
        envOnly(settings),
      );
      return {
        refused: result.code !== 0 && result.code !== null && !result.stdout.includes("Load Balancer started"),
        text: result.stderr,
      };
    },
    fieldName: (env) => `--${flagOf(env)}`,
    ipHash: {
      settings: { HASH_KEY: "header:x-client" },
      client: (id) => ({ "x-client": `client-${id}` }),
    },
  };
}

const workerdAdapter: RuntimeAdapter = {
  name: "workerd",
  async start(settings) {
    const worker = await startWorker(settings);
    return {
      url: worker.url.origin,
      fetch: (path, init) => worker.fetch(path, init),
      stop: () => worker.dispose(),
    };
  },
  async refuse(settings) {
    // A Worker cannot refuse to deploy: it answers every request 503 bad_config instead.
    const worker = await startWorker(settings);
    try {
      const answers = await Promise.all(
        ["/", "/any/path?q=1"].map(async (path) => {
          const response = await worker.fetch(path);
          const body = (await response.json()) as { error?: string; reason?: string };
          return {
            status: response.status,
            json: /application\/json/.test(response.headers.get("content-type") ?? ""),
            body,
          };
        }),
      );
      // The 503 names only the sources; the operator reads values and reasons in the log.
      const deadline = Date.now() + 5_000;
      while (!worker.logs.some((line) => line.includes("invalid configuration:")) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return {
        refused: answers.every((a) => a.status === 503 && a.json && a.body.error === "bad_config"),
        text: [...answers.map((a) => a.body.reason ?? ""), ...worker.logs].join("\n"),
      };
    } finally {
      await worker.dispose();
    }
  },
  fieldName: (env) => env,
  ipHash: {
    settings: {},
    client: (id) => ({ "cf-connecting-ip": `198.51.100.${id}` }),
  },
};

export const RUNTIMES: readonly RuntimeAdapter[] = [
  workerdAdapter,
  serverAdapter("node"),
  serverAdapter("bun"),
  serverAdapter("deno"),
];
