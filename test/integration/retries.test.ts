import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { sendMany } from "../support/load.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

/** How many times each /post/<i> reached any upstream. */
function deliveries(upstreams: readonly Upstream[], prefix: string): Map<string, number> {
  const seen = new Map<string, number>();
  for (const u of upstreams) {
    for (const r of u.received) if (r.target.startsWith(prefix)) seen.set(r.target, (seen.get(r.target) ?? 0) + 1);
  }
  return seen;
}

describe("failover and safe retries through the Worker", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
  });
  /** A fresh Worker per test: each starts with a full retry reserve and no ejections. */
  beforeEach(async () => {
    worker = await startWorker({ BACKENDS: backendsOf(upstreams) });
  });
  afterEach(async () => {
    await worker?.dispose();
    for (const u of upstreams) u.mode = { kind: "ok" };
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("loses no request when one of three upstreams is killed during 2,000 GETs sent 20 at a time", async () => {
    const b = upstreams[1]!;
    const killed = (async () => {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (b.received.length >= 150) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      await b.close();
    })();
    const responses = await sendMany([worker], 2000, { concurrency: 20, seed: 11 });
    await killed;
    expect(responses.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
    const counts = tally(responses);
    expect(counts["a"]! + counts["b"]! + counts["c"]!).toBe(2000);
    expect(counts["b"]).toBeLessThan(1000); // it really was killed part-way
    await b.reopen();
  });

  it("never delivers a POST without Idempotency-Key twice: the client sees the 503", async () => {
    const b = upstreams[1]!;
    b.mode = { kind: "status", status: 503 };
    const responses = await sendMany([worker], 200, {
      concurrency: 4,
      path: (i) => `/post/plain/${i}`,
      init: (i) => ({ method: "POST", body: `order ${i}` }),
    });
    const seen = deliveries(upstreams, "/post/plain/");
    expect(seen.size).toBe(200);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const refused = responses.filter((r) => r.status === 503).length;
    expect(refused).toBe(b.received.filter((r) => r.target.startsWith("/post/plain/")).length);
    expect(refused).toBeGreaterThan(0);
    expect(responses.filter((r) => r.status !== 503 && r.status !== 200)).toEqual([]);
  });

  // b is ejected after five consecutive 503s (the default outlier policy); until then the
  // retry reserve covers the requests that met it first.
  it("retries a POST with Idempotency-Key on another backend, and it succeeds", async () => {
    const b = upstreams[1]!;
    b.mode = { kind: "status", status: 503 };
    const responses = await sendMany([worker], 200, {
      concurrency: 4,
      path: (i) => `/post/keyed/${i}`,
      init: (i) => ({ method: "POST", body: `order ${i}`, headers: { "idempotency-key": `order-${i}` } }),
    });
    expect(responses.filter((r) => r.status !== 200)).toEqual([]);
    const atB = b.received.filter((r) => r.target.startsWith("/post/keyed/")).length;
    expect(atB).toBeGreaterThan(0);
    // Each was answered once by a healthy backend; the ones that met b first were sent twice.
    const succeeded = [upstreams[0]!, upstreams[2]!].flatMap((u) =>
      u.received.filter((r) => r.target.startsWith("/post/keyed/")),
    );
    expect(succeeded.length).toBe(200);
  });

  it("spends at most 20% extra attempts when every backend answers 503 under load", async () => {
    // Nothing succeeds, so nothing is earned: retries stop once the reserve of 10 is spent.
    for (const u of upstreams) u.mode = { kind: "status", status: 503 };
    const before = upstreams.reduce((n, u) => n + u.received.length, 0);
    const responses = await sendMany([worker], 1000, { concurrency: 20, seed: 12 });
    const attempts = upstreams.reduce((n, u) => n + u.received.length, 0) - before;
    console.log(`attempts per request with every backend answering 503: ${(attempts / 1000).toFixed(3)}`);
    expect(responses.every((r) => r.status === 503)).toBe(true);
    expect(attempts / 1000).toBeLessThanOrEqual(1.2);
    expect(attempts).toBeGreaterThan(1000); // the reserve was spent: some retries, not none
  });
});
