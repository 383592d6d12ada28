// Workers (miniflare) sharing one real redis-server through the Upstash REST server, for suites
// that start several instances per test: call useRedisFleet() inside a describeWithRedis block;
// it starts the stack and three upstreams before the tests and stops everything after them.
import { afterAll, afterEach, beforeAll } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { sendMany } from "./load.ts";
import { startUpstashStack, type UpstashStack } from "./redis.ts";
import { backendsOf, startUpstreams } from "./upstreams.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "./worker.ts";

export interface RedisFleet {
  readonly stack: () => UpstashStack;
  /** a, b and c. */
  readonly upstreams: () => Upstream[];
  /** The store prefix of the latest startInstances call. */
  readonly prefix: () => string;
  /** `n` Workers on a fresh store prefix, with `vars` on top of the shared-store bindings. */
  startInstances(n: number, vars: Record<string, string>): Promise<WorkerInstance[]>;
}

export function useRedisFleet(): RedisFleet {
  let stack: UpstashStack;
  let upstreams: Upstream[];
  const running: WorkerInstance[] = [];
  let prefixes = 0;

  beforeAll(async () => {
    stack = await startUpstashStack();
    upstreams = await startUpstreams(["a", "b", "c"]);
  });
  // A test that stops or pauses redis-server and fails before starting it again must not fail
  // every later test of the file with it: each test starts on a running, answering server.
  afterEach(async () => {
    stack?.redis.resume();
    if (stack && !stack.redis.running) await stack.redis.restart();
  });
  afterAll(async () => {
    await Promise.all(running.map((w) => w.dispose().catch(() => undefined)));
    await Promise.all((upstreams ?? []).map((u) => u.close()));
    await stack?.stop();
  });

  return {
    stack: () => stack,
    upstreams: () => upstreams,
    prefix: () => `t${prefixes}`,
    async startInstances(n, vars) {
      const prefix = `t${++prefixes}`;
      const workers = await Promise.all(
        Array.from({ length: n }, () =>
          startWorker({
            BACKENDS: backendsOf(upstreams),
            STATE: "upstash",
            STATE_PREFIX: prefix,
            UPSTASH_REDIS_REST_URL: stack.upstash.url,
            UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
            ADMIN_TOKEN,
            ...vars,
          }),
        ),
      );
      running.push(...workers);
      return workers;
    },
  };
}

/** `count` requests spread at random (seeded) over `workers`, `concurrency` at a time. */
export const spread = (workers: readonly WorkerInstance[], count: number, concurrency = 12, seed = 1) =>
  sendMany(
    workers.map((worker) => ({ fetch: worker.direct })),
    count,
    { concurrency, seed },
  );
