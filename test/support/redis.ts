// Real redis-server (and the upstash-local REST server in front of it) for integration tests.
// Each call starts its own redis-server on a free 127.0.0.1 port; the machine's shared 6379 is
// never used. Suites that need Redis use describeWithRedis: without redis-server on PATH they
// are skipped with a one-line hint, except under CI=true, where that fails the run.
import { describe, it } from "vitest";
import {
  REDIS_INSTALL_HINT,
  type RedisServer,
  type RedisServerOptions,
  redisServerAvailable,
  startRedisServer,
} from "../../scripts/redis-local.ts";
import { startUpstashLocal, type UpstashLocal, type UpstashLocalOptions } from "../../scripts/upstash-local.ts";

export type { RedisServer, UpstashLocal };

export interface TestRedis {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Stops redis-server (SIGTERM by default; SIGKILL simulates a crash). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port, empty; resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a store that hangs instead of refusing connections. */
  pause(): void;
  resume(): void;
  readonly running: boolean;
}

/** Is redis-server on PATH (or $REDIS_SERVER_BIN set to an executable)? */
export function redisAvailable(): boolean {
  return redisServerAvailable();
}

/** Starts a private redis-server on a free port and waits until it answers PING. */
export async function startRedis(options: RedisServerOptions = {}): Promise<TestRedis> {
  const server = await startRedisServer(options);
  return {
    url: server.url,
    port: server.port,
    stop: (signal) => server.stop(signal),
    restart: () => server.restart(),
    pause: () => server.pause(),
    resume: () => server.resume(),
    get running() {
      return server.running;
    },
  };
}

let skipNoticePrinted = false;

/**
 * describe() for suites that need a real redis-server. Without one: skipped with a one-line
 * hint locally; a failing test when process.env.CI === "true".
 */
export function describeWithRedis(name: string, fn: () => void): void {
  if (redisAvailable()) {
    describe(name, fn);
    return;
  }
  const hint = `redis-server not found on PATH; install it with: ${REDIS_INSTALL_HINT}`;
  if (process.env.CI === "true") {
    describe(name, () => {
      it("needs redis-server", () => {
        throw new Error(`${hint} (CI=true: Redis suites must not be skipped)`);
      });
    });
    return;
  }
  if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    console.warn(`[skipped] ${hint}`);
  }
  // Skipped only without redis-server and outside CI (under CI=true the suite fails instead, above).
  describe.skip(`${name} (skipped: ${hint})`, fn);
}

export interface UpstashStack {
  redis: TestRedis;
  upstash: { url: string; token: string; stats: UpstashLocal["stats"] };
  stop(): Promise<void>;
}

/** A private redis-server with upstash-local in front of it. */
export async function startUpstashStack(options: Omit<UpstashLocalOptions, "redisUrl"> = {}): Promise<UpstashStack> {
  const redis = await startRedis();
  let upstash: UpstashLocal;
  try {
    upstash = await startUpstashLocal({ ...options, redisUrl: redis.url });
  } catch (error) {
    await redis.stop();
    throw error;
  }
  return {
    redis,
    upstash: { url: upstash.url, token: upstash.token, stats: upstash.stats },
    async stop() {
      await upstash.close();
      await redis.stop();
    },
  };
}
