import { mulberry32 } from "./prng.ts";

type Fetcher = { fetch(path: string, init?: RequestInit & { clientIp?: string }): Promise<Response> };

/**
 * Sends `count` requests spread at random (seeded) over `targets`, at most `concurrency` at a
 * time; bodies are read so connections are reused. Bounded by count; returns every response.
 */
export async function sendMany(
  targets: readonly Fetcher[],
  count: number,
  options: {
    concurrency?: number;
    seed?: number;
    path?: (i: number) => string;
    init?: (i: number) => RequestInit;
  } = {},
): Promise<Response[]> {
  const { concurrency = 12, seed = 1, path = (i) => `/r/${i}`, init } = options;
  const random = mulberry32(seed);
  const chosen = Array.from({ length: count }, () => targets[Math.floor(random() * targets.length)]!);
  const responses: Response[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        const response = await chosen[index]!.fetch(path(index), init?.(index));
        await response.arrayBuffer();
        responses[index] = response;
      }
    }),
  );
  return responses;
}

/**
 * A trickle of requests in the background (lazy health checks run on requests), stopped by the
 * returned function; bounded by `maxMs` in case a test forgets to stop it.
 */
export function keepTraffic(target: Fetcher, everyMs = 50, maxMs = 60_000): () => Promise<void> {
  let running = true;
  const started = Date.now();
  const loop = (async () => {
    while (running && Date.now() - started < maxMs) {
      await target
        .fetch("/traffic")
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
