// Server-sent events and other long responses through the balancer on every runtime: they
// stream unbuffered, TIMEOUT_MS bounds only the wait for the response headers, a client that
// goes away reaches the upstream, and in-flight counts of long requests outlive INFLIGHT_TTL_MS
// in the shared store. Real upstreams on 127.0.0.1, two instances per runtime sharing a real
// redis-server through the Upstash REST protocol.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { type LbTarget, RUNTIMES, type RuntimeName } from "../support/lb-targets.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { until } from "../support/websocket-client.ts";
import { ADMIN_TOKEN, backendStatus, type Status } from "../support/worker.ts";

async function statusOf(target: LbTarget): Promise<Status> {
  const response = await target.fetch("/_lb/status", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (response.status !== 200) throw new Error(`/_lb/status answered ${response.status}`);
  return response.json();
}

/** Reads a response body to its end, calling `onChunk` with each piece as it arrives. */
async function readAll(response: Response, onChunk: (text: string) => void = () => undefined): Promise<string> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += value;
    onChunk(value);
  }
}

interface Pair {
  upstream: Upstream;
  /** Streams through this one. */
  front: LbTarget;
  /** Shares the store with `front`; reads its in-flight counts from there. */
  other: LbTarget;
}

describeWithRedis("long responses on every runtime", () => {
  let stack: UpstashStack;
  const pairs = new Map<RuntimeName, Pair>();

  beforeAll(async () => {
    stack = await startUpstashStack();
    for (const runtime of RUNTIMES) {
      const upstream = await startUpstream({ name: `s-${runtime.name}` });
      const settings = {
        BACKENDS: upstream.url,
        // Load-aware, so a request counts until its body has been passed on, not only until headers.
        ALGORITHM: "least-connections",
        TIMEOUT_MS: "2000",
        INFLIGHT_TTL_MS: "3000",
        STATE: "upstash",
        STATE_PREFIX: `streams-${runtime.name}`,
        UPSTASH_REDIS_REST_URL: stack.upstash.url,
        UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
        STORE_TIMEOUT_MS: "2000",
        ADMIN_TOKEN,
      };
      const [front, other] = await Promise.all([runtime.start(settings), runtime.start(settings)]);
      pairs.set(runtime.name, { upstream, front, other });
    }
  }, 120_000);
  afterAll(async () => {
    for (const { upstream, front, other } of pairs.values()) {
      await Promise.all([front.stop(), other.stop()]);
      await upstream.close();
    }
    await stack?.stop();
  });

  describe.each(RUNTIMES)("on $name", (runtime) => {
    const pair = () => pairs.get(runtime.name)!;

    it("SSE: 10 events sent 300 ms apart each reach the client within 100 ms of being sent", async () => {
      const response = await fetch(`${pair().front.url}/sse?count=10&interval=300`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/event-stream");
      const delays: number[] = [];
      let pending = "";
      await readAll(response, (chunk) => {
        const arrived = Date.now();
        pending += chunk;
        const events = pending.split("\n\n");
        pending = events.pop()!;
        for (const event of events) delays.push(arrived - Number(/^data: (\d+)$/m.exec(event)![1]));
      });
      expect(delays).toHaveLength(10);
      expect(Math.max(...delays), `delays ${delays.join(", ")} ms`).toBeLessThan(100);
    });

    it("a client abort reaches the upstream within 1 s, and releases the in-flight count", async () => {
      const { upstream, front } = pair();
      const controller = new AbortController();
      // An event stream: Workers compress text/plain per the client's Accept-Encoding, and
      // workerd's compressor holds a trickle back (README, Streams); event streams pass as sent.
      const response = await fetch(`${front.url}/sse?count=30&interval=300`, { signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read();
      const before = upstream.streams.aborted.length;
      const gone = Date.now();
      controller.abort();
      await until(() => upstream.streams.aborted.length > before, 1_000, "the upstream sees the client leave");
      expect(upstream.streams.aborted.at(-1)! - gone).toBeLessThan(1_000);
      await until(
        async () => backendStatus(await statusOf(front), upstream.url).inflight === 0,
        5_000,
        "the in-flight count is released",
      );
    });
  });

  it.concurrent.each(RUNTIMES)(
    "on $name: a 20 s stream completes with TIMEOUT_MS=2000, and 20 requests held open 10 s (INFLIGHT_TTL_MS=3000) still count on another instance at second 9",
    async (runtime) => {
      const { upstream, front, other } = pairs.get(runtime.name)!;
      const started = Date.now();
      const long = fetch(`${front.url}/stream?ms=20000`).then(async (response) => ({
        status: response.status,
        lines: (await readAll(response)).trim().split("\n").length,
      }));
      const held = Array.from({ length: 20 }, () =>
        fetch(`${front.url}/stream?ms=10000`).then(async (response) => (await readAll(response)).length),
      );
      await new Promise((resolve) => setTimeout(resolve, 9_000 - (Date.now() - started)));
      const seen = backendStatus(await statusOf(other), upstream.url).inflight;
      expect(Date.now() - started).toBeLessThan(10_000);
      // The 20 held open and the 20 s stream, all through `front`, as the store tells `other`.
      expect(seen).toBe(21);
      expect((await Promise.all(held)).every((length) => length > 0)).toBe(true);
      expect(await long).toEqual({ status: 200, lines: 80 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(20_000);
    },
    60_000,
  );
});
