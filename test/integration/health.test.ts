import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { keepTraffic, sendMany } from "../support/load.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { ADMIN_TOKEN, backendStatus, startWorker, status, type WorkerInstance } from "../support/worker.ts";

const probesOf = (u: Upstream) => u.received.filter((r) => r.target.startsWith("/healthz")).length;

describe("active health checks (lazy, on requests) with rise/fall", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  let stopTraffic: () => Promise<void>;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({
      BACKENDS: backendsOf(upstreams),
      ADMIN_TOKEN,
      HEALTH_CHECK_PATH: "/healthz",
      HEALTH_CHECK_INTERVAL_MS: "500",
      HEALTH_CHECK_TIMEOUT_MS: "400",
      HEALTH_CHECK_RISE: "2",
      HEALTH_CHECK_FALL: "3",
      EJECT_AFTER: "0",
    });
    stopTraffic = keepTraffic(worker, 40);
  });
  afterAll(async () => {
    await stopTraffic?.();
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("marks a backend down after `fall` failed checks, sends it nothing, and brings it back after `rise` passes", async () => {
    const b = upstreams[1]!;
    b.healthMode = { kind: "status", status: 500 };
    const failingFrom = probesOf(b);
    await expect.poll(async () => backendStatus(await status(worker), b.url).health, { timeout: 10_000 }).toBe("down");
    expect(probesOf(b) - failingFrom).toBeGreaterThanOrEqual(3);
    await expect
      .poll(() => worker.logs.some((l) => l.includes(`${b.url} [down] (status 500, expected 2xx)`)))
      .toBe(true);

    const before = b.received.filter((r) => !r.target.startsWith("/healthz")).length;
    const responses = await sendMany([worker], 60, { concurrency: 6 });
    expect(tally(responses)["b"]).toBeUndefined();
    expect(b.received.filter((r) => !r.target.startsWith("/healthz")).length).toBe(before);

    b.healthMode = { kind: "ok" };
    const passingFrom = probesOf(b);
    await expect.poll(async () => backendStatus(await status(worker), b.url).health, { timeout: 10_000 }).toBe("up");
    expect(probesOf(b) - passingFrom).toBeGreaterThanOrEqual(2);
    await expect.poll(() => worker.logs.some((l) => l.endsWith(`${b.url} [up]`))).toBe(true);
    const again = await sendMany([worker], 60, { concurrency: 6 });
    expect(tally(again)["b"]).toBeGreaterThan(0);
  });

  it("never takes down a backend that fails every other check (fall=3)", async () => {
    const c = upstreams[2]!;
    c.healthMode = { kind: "cycle", statuses: [500, 200] };
    const from = probesOf(c);
    const downLines = () => worker.logs.filter((l) => l.includes(`${c.url} [down]`)).length;
    const downBefore = downLines();
    // Ten checks, alternating fail/pass.
    await expect.poll(() => probesOf(c) - from, { timeout: 15_000, interval: 100 }).toBeGreaterThanOrEqual(10);
    expect(backendStatus(await status(worker), c.url).health).toBe("up");
    expect(downLines()).toBe(downBefore);
    c.healthMode = { kind: "ok" };
  });
});

describe("health checks from a Cron Trigger", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b"]);
    worker = await startWorker({
      BACKENDS: backendsOf(upstreams),
      ADMIN_TOKEN,
      HEALTH_CHECK_PATH: "/healthz",
      HEALTH_CHECK_INTERVAL_MS: "60000",
      HEALTH_CHECK_FALL: "1",
    });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("runs a round on scheduled() and updates the shared state", async () => {
    const b = upstreams[1]!;
    b.healthMode = { kind: "status", status: 503 };
    expect(probesOf(b)).toBe(0);
    const result = await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
    expect(result.outcome).toBe("ok");
    expect(probesOf(b)).toBe(1);
    expect(probesOf(upstreams[0]!)).toBe(1);
    const view = await status(worker);
    expect(backendStatus(view, b.url).health).toBe("down");
    expect(backendStatus(view, b.url).reason).toContain("status 503");
    expect(backendStatus(view, upstreams[0]!.url).health).toBe("up");
  });
});

describe("passive ejection, its cap, and panic mode", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance | undefined;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c", "d"]);
  });
  afterEach(async () => {
    await worker?.dispose();
    worker = undefined;
    for (const u of upstreams) u.mode = { kind: "ok" };
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("ejects a backend after 5 consecutive connection failures, for the base time", async () => {
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ADMIN_TOKEN, EJECT_BASE_MS: "1500" });
    const b = upstreams[1]!;
    await b.close();
    const responses = await sendMany([worker], 40, { concurrency: 1 });
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const view = backendStatus(await status(worker), b.url);
    expect(view.ejected_until).not.toBeNull();
    expect(view.reason).toMatch(/after 5 consecutive failures/);
    await expect.poll(() => worker!.logs.filter((l) => l.includes(`${b.url} [down]`)).length).toBe(1);
    // Ejected: b is not even attempted until the base time has passed.
    await b.reopen();
    const during = await sendMany([worker], 20, { concurrency: 2 });
    expect(tally(during)["b"]).toBeUndefined();
    await expect
      .poll(async () => tally(await sendMany([worker!], 8, { concurrency: 2 }))["b"] ?? 0, {
        timeout: 5_000,
        interval: 200,
      })
      .toBeGreaterThan(0);
  });

  it("never ejects more than max_ejection_percent of the pool", async () => {
    worker = await startWorker({
      BACKENDS: backendsOf(upstreams),
      ADMIN_TOKEN,
      MAX_EJECTION_PERCENT: "50",
      EJECT_BASE_MS: "30000",
      EJECT_ON_5XX: "true",
    });
    for (const u of upstreams.slice(0, 3)) u.mode = { kind: "status", status: 500 };
    await sendMany([worker], 120, { concurrency: 4 });
    const view = await status(worker);
    const ejected = view.pools[0]!.backends.filter((b) => b.ejected_until !== null);
    expect(ejected.length).toBeGreaterThan(0);
    // The store may record more ejections than the cap; only 2 of 4 are honoured at once.
    const before = upstreams.map((u) => u.received.length);
    await sendMany([worker], 40, { concurrency: 4 });
    const reached = upstreams.filter((u, i) => u.received.length > before[i]!);
    expect(reached.length).toBe(2);
    expect(reached).toContain(upstreams[3]);
  });

  it("uses every backend (panic) when all of them are failing", async () => {
    worker = await startWorker({
      BACKENDS: backendsOf(upstreams),
      ADMIN_TOKEN,
      MAX_EJECTION_PERCENT: "100",
      EJECT_BASE_MS: "30000",
      EJECT_ON_5XX: "true",
    });
    for (const u of upstreams) u.mode = { kind: "status", status: 500 };
    await sendMany([worker], 60, { concurrency: 4 });
    const view = await status(worker);
    expect(view.pools[0]!.backends.every((b) => b.ejected_until !== null)).toBe(true);
    expect(view.pools[0]!.panic).toBe(true);
    const before = upstreams.map((u) => u.received.length);
    const responses = await sendMany([worker], 40, { concurrency: 4 });
    expect(responses.every((r) => r.status === 500)).toBe(true);
    expect(upstreams.every((u, i) => u.received.length > before[i]!)).toBe(true);
  });
});

describe("backup backends", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  let stopTraffic: () => Promise<void>;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "spare"]);
    const [a, b, spare] = upstreams;
    worker = await startWorker({
      BACKENDS: `${a!.url},${b!.url},${spare!.url}|backup`,
      ADMIN_TOKEN,
      HEALTH_CHECK_PATH: "/healthz",
      HEALTH_CHECK_INTERVAL_MS: "500",
      HEALTH_CHECK_RISE: "1",
      HEALTH_CHECK_FALL: "1",
    });
    stopTraffic = keepTraffic(worker, 40);
  });
  afterAll(async () => {
    await stopTraffic?.();
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("gets traffic only while every primary is down, and stops when one returns", async () => {
    const [a, b, spare] = upstreams as [Upstream, Upstream, Upstream];
    expect(tally(await sendMany([worker], 60))["spare"]).toBeUndefined();

    a.healthMode = b.healthMode = { kind: "status", status: 500 };
    await expect
      .poll(async () => (await status(worker)).pools[0]!.backends.filter((x) => x.health === "down").length, {
        timeout: 10_000,
      })
      .toBe(2);
    expect(tally(await sendMany([worker], 60))).toEqual({ spare: 60 });

    a.healthMode = { kind: "ok" };
    await expect.poll(async () => backendStatus(await status(worker), a.url).health, { timeout: 10_000 }).toBe("up");
    expect(tally(await sendMany([worker], 60))).toEqual({ a: 60 });
    expect(spare.received.filter((r) => !r.target.startsWith("/healthz")).length).toBeGreaterThan(0);
  });
});

describe("slow start", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  let stopTraffic: () => Promise<void>;
  const WINDOW_MS = 6000;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({
      BACKENDS: backendsOf(upstreams),
      ADMIN_TOKEN,
      HEALTH_CHECK_PATH: "/healthz",
      HEALTH_CHECK_INTERVAL_MS: "500",
      HEALTH_CHECK_RISE: "1",
      HEALTH_CHECK_FALL: "1",
      SLOW_START_MS: String(WINDOW_MS),
    });
    stopTraffic = keepTraffic(worker, 40);
  });
  afterAll(async () => {
    await stopTraffic?.();
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("ramps a recovered backend's share across the window (three measurements)", async () => {
    const b = upstreams[1]!;
    b.healthMode = { kind: "status", status: 500 };
    await expect.poll(async () => backendStatus(await status(worker), b.url).health, { timeout: 10_000 }).toBe("down");
    b.healthMode = { kind: "ok" };
    await expect.poll(async () => backendStatus(await status(worker), b.url).health, { timeout: 10_000 }).toBe("up");
    const upAt = Date.now();

    const shareAt = async (fraction: number) => {
      const wait = upAt + fraction * WINDOW_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const responses = await sendMany([worker], 150, { concurrency: 10 });
      return (tally(responses)["b"] ?? 0) / 150;
    };
    const early = await shareAt(0.1);
    const middle = await shareAt(0.45);
    const late = await shareAt(0.8);
    const after = await shareAt(1.1);
    console.log(
      `slow start: b's share ${early.toFixed(3)} -> ${middle.toFixed(3)} -> ${late.toFixed(3)} -> ${after.toFixed(3)} (full: 0.333)`,
    );
    expect(early).toBeLessThan(middle);
    expect(middle).toBeLessThan(late);
    expect(early).toBeLessThan(0.2);
    expect(after).toBeCloseTo(1 / 3, 1);
  });
});

describe("health checks on the Durable Object's alarm, with no requests", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b"]);
    worker = await startWorker(
      {
        BACKENDS: backendsOf(upstreams),
        ADMIN_TOKEN,
        STATE: "durable-object",
        HEALTH_CHECK_PATH: "/healthz",
        HEALTH_CHECK_INTERVAL_MS: "500",
        HEALTH_CHECK_FALL: "2",
      },
      { durableObjects: { LB_STATE: "PoolStateObject" } },
    );
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("keeps probing every interval while idle and marks a failing backend down", async () => {
    const b = upstreams[1]!;
    // One request hands the checks to the pool's object; after it, no request reaches the pool.
    await (await worker.fetch("/")).arrayBuffer();
    const handedAt = probesOf(b);
    await expect.poll(() => probesOf(b) - handedAt, { timeout: 5_000, interval: 50 }).toBeGreaterThanOrEqual(3);
    b.healthMode = { kind: "status", status: 500 };
    await expect
      .poll(async () => backendStatus(await status(worker), b.url).health, { timeout: 5_000, interval: 100 })
      .toBe("down");
    await expect.poll(() => worker.logs.some((l) => l.includes(`${b.url} [down] (status 500`))).toBe(true);
    expect(backendStatus(await status(worker), upstreams[0]!.url).health).toBe("up");
  });
});
