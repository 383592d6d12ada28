import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { DurableObjectStore, type PoolObjectNamespace } from "../../src/state/durable-object-store.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import {
  type BackendPatch,
  type InstanceReport,
  PATCH_FIELDS,
  type PoolSnapshot,
  type StateStore,
} from "../../src/state/types.ts";
import { FULL_PATCH, INVALID_PATCHES, instanceReport } from "../support/patches.ts";
import { bunBinary } from "../support/runtimes.ts";
import { describeSessionContract, reachRealTime } from "../support/session-contract.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

const WITH_DO = { durableObjects: { LB_STATE: "PoolStateObject" } };

/**
 * Session rows left in the one pool object's SQLite file under a persist directory, read after
 * workerd has exited (Node 20 has no SQLite module; the bun devDependency has bun:sqlite).
 */
async function sessionRowsOnDisk(dir: string): Promise<number> {
  const files = (await readdir(dir, { recursive: true }))
    .map(String)
    .filter((file) => file.endsWith(".sqlite") && !file.endsWith("metadata.sqlite"));
  expect(files).toHaveLength(1);
  const script = `import { Database } from "bun:sqlite";
const db = new Database(process.env.SQLITE_FILE, { readonly: true });
console.log(db.query("SELECT count(*) AS n FROM lb_sessions").get().n);`;
  const out = execFileSync(bunBinary(), ["-e", script], {
    env: { ...process.env, SQLITE_FILE: join(dir, files[0]!) },
    encoding: "utf8",
  });
  return Number(out.trim());
}

/** The adapter the Worker uses, driven from Node over miniflare's proxy of the LB_STATE binding. */
async function storeOf(worker: WorkerInstance, stubs?: { made: number }): Promise<DurableObjectStore> {
  const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
  if (!stubs) return new DurableObjectStore(namespace);
  // Every RPC goes through a fresh stub, so stubs made counts round trips attempted.
  return new DurableObjectStore({
    idFromName: (name) => namespace.idFromName(name),
    get: (id) => {
      stubs.made++;
      return namespace.get(id);
    },
  });
}

/**
 * `total` GETs through the Worker, `concurrency` at a time. Twenty in flight is what once broke
 * the cache: requests awaited each other's store call, which workerd forbids across requests.
 */
async function sendAll(worker: WorkerInstance, total: number, concurrency: number): Promise<Response[]> {
  const responses: Response[] = new Array(total);
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const response = await worker.fetch(`/rr/${i}`);
      await response.arrayBuffer();
      responses[i] = response;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return responses;
}

const report = (instance: string, inflight: Record<string, number>, extra: Partial<InstanceReport> = {}) =>
  instanceReport(instance, inflight, extra, 60_000);

const FULL = FULL_PATCH;

/** A snapshot without the clock readings, to compare two stores fed the same calls. */
function timeless(snapshot: PoolSnapshot): unknown {
  return Object.fromEntries(
    Object.entries(snapshot.backends).map(([name, b]) => [
      name,
      { ...b, latency: b.latency ? { ewmaMs: b.latency.ewmaMs } : undefined },
    ]),
  );
}

describe("The durable-object store: the same exact distribution through one Miniflare", () => {
  let upstreams: Upstream[];

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
  });
  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });

  // STORE_TIMEOUT_MS: a reservation slower than the 200 ms default (a busy test machine) would
  // fall back to local positions, which is right in production and not what is measured here.
  const run = async (extra: Record<string, string>, concurrency: number) => {
    const worker = await startWorker(
      { BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin", STATE: "durable-object", ...extra },
      WITH_DO,
    );
    try {
      const started = performance.now();
      const responses = await sendAll(worker, 3_000, concurrency);
      const elapsedMs = Math.round(performance.now() - started);
      const store = await storeOf(worker);
      // reserve(0) reads the pool object's sequence without moving it.
      const sequence = await store.reserve("default", 0);
      return { counts: tally(responses), sequence, elapsedMs, logs: worker.logs };
    } finally {
      await worker.dispose();
    }
  };

  // Separate workerd processes: the two runs overlap.
  it.concurrent("SEQUENCE_BATCH=1, 20 in flight: 3,000 GETs land exactly 1,000/1,000/1,000", async ({ expect }) => {
    const { counts, sequence, elapsedMs, logs } = await run({ SEQUENCE_BATCH: "1", STORE_TIMEOUT_MS: "5000" }, 20);
    console.info(`durable-object, batch 1: 3000 requests in ${elapsedMs} ms, object sequence ${sequence}`);
    expect(counts).toEqual({ a: 1_000, b: 1_000, c: 1_000 });
    // Every position came from the object (one RPC per request), none from the local fallback.
    expect(sequence).toBe(3_000);
    expect(logs.filter((line) => line.includes("unreachable"))).toEqual([]);
  });

  it.concurrent("default batching (up to 64), one client in sequence: still exactly 1,000 each, with a few dozen reservations", async ({
    expect,
  }) => {
    const { counts, sequence, elapsedMs, logs } = await run({ STORE_TIMEOUT_MS: "5000" }, 1);
    console.info(`durable-object, batch 64: 3000 requests in ${elapsedMs} ms, object sequence ${sequence}`);
    // Exact, not just within 1%: one isolate is the only reserver, so its blocks follow each
    // other in the object's sequence and it hands out positions 0..2999 in order. (With several
    // isolates, blocks that are whole multiples of the rotation, as every block is once the
    // batch reaches 3, bound the skew by one block tail per isolate.) Blocks went 1, 2, 3, 6,
    // 15, 30, then 63 each, so only the last block's unused tail is left: fewer than 63.
    expect(counts).toEqual({ a: 1_000, b: 1_000, c: 1_000 });
    expect(sequence).toBeGreaterThanOrEqual(3_000);
    expect(sequence).toBeLessThan(3_000 + 63);
    expect(logs.filter((line) => line.includes("unreachable"))).toEqual([]);
  });
});

describe("The PoolStateObject's semantics, through DurableObjectStore over miniflare", () => {
  let worker: WorkerInstance;
  let a: DurableObjectStore;
  let b: DurableObjectStore;
  const stubs = { made: 0 };

  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: "http://127.0.0.1:9", STATE: "durable-object" }, WITH_DO);
    // Two adapters stand for two isolates sharing the object.
    [a, b] = [await storeOf(worker, stubs), await storeOf(worker, stubs)];
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  // workerd's clock runs the ttl; the machine's clock is the same one.
  describeSessionContract(() => ({
    store: a,
    peer: b,
    atomicAcrossInstances: true,
    ttlMs: 1_000,
    now: Date.now,
    reach: reachRealTime,
    roundTrips: () => stubs.made,
  }));

  it("claimSession is checked in the object too, for a caller that skips the adapter", async () => {
    const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
    const stub = namespace.get(namespace.idFromName("sess-args"));
    // miniflare's proxy reports any rejected RPC as an AssertionError: only the rejection is asserted.
    await expect(stub.claimSession("a:b", "x", 1_000)).rejects.toThrow();
    await expect(stub.claimSession("k", "", 1_000)).rejects.toThrow();
    await expect(stub.claimSession("k", "x", Number.NaN)).rejects.toThrow();
    await expect(stub.claimSession("k", "x", 1_000, "")).rejects.toThrow();
    expect(await a.claimSession("sess-args", "k", "ok", 60_000)).toBe("ok");
  });

  it("reserve hands out disjoint, gap-free blocks under 200 concurrent calls from two adapters", async () => {
    const counts = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7) % 9));
    const firsts = await Promise.all(counts.map((count, i) => (i % 2 ? a : b).reserve("blocks", count)));
    const blocks = firsts.map((first, i) => [first, first + counts[i]!] as const).sort((x, y) => x[0] - y[0]);
    let expected = 0;
    for (const [start, end] of blocks) {
      expect(start).toBe(expected);
      expected = end;
    }
    const total = counts.reduce((sum, n) => sum + n, 0);
    expect(expected).toBe(total);
    expect(await a.reserve("blocks", 1)).toBe(total);
    // Pools are separate objects.
    expect(await a.reserve("other-pool", 5)).toBe(0);
  });

  it("refuses a count that would poison the durable sequence", async () => {
    // The object throws a RangeError; miniflare's Node-side proxy turns any rejected RPC into
    // "AssertionError: false == true" (a Worker caller does see the RangeError), so only the
    // rejection itself is asserted here.
    await expect(a.reserve("poison", Number.NaN)).rejects.toThrow();
    await expect(a.reserve("poison", 1.5)).rejects.toThrow();
    await expect(a.reserve("poison", -1)).rejects.toThrow();
    expect(await a.reserve("poison", 2)).toBe(0);
  });

  it("sync sums two instances' in-flight counts, and an expired report stops counting", async () => {
    await a.sync("inflight", report("isolate-a", { x: 3 }));
    await b.sync("inflight", report("isolate-b", { x: 2, y: 1 }, { ttlMs: 300 }));
    const both = await a.sync("inflight", undefined);
    expect(both.backends["x"]?.inflight).toBe(5);
    expect(both.backends["y"]?.inflight).toBe(1);

    // A newer report replaces the older one (absolute counts, idempotent).
    await a.sync("inflight", report("isolate-a", { x: 4 }));
    expect((await b.sync("inflight", undefined)).backends["x"]?.inflight).toBe(6);

    // isolate-b goes silent; within its 300 ms ttl (plus slack) its counts must vanish.
    const deadline = Date.now() + 5_000;
    let view: PoolSnapshot;
    do {
      view = await a.sync("inflight", undefined);
      if (view.backends["x"]?.inflight === 4) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    } while (Date.now() < deadline);
    expect(view.backends["x"]?.inflight).toBe(4);
    // y had only in-flight counts, so with them gone it is not in the view at all.
    expect(view.backends["y"]).toBeUndefined();
  });

  it("setBackend merges patches into the flags the snapshot carries", async () => {
    await a.setBackend("flags", "x", { health: "down" });
    await b.setBackend("flags", "x", { admin: "drained" });
    expect((await a.sync("flags", undefined)).backends["x"]).toMatchObject({
      health: "down",
      admin: "drained",
      inflight: 0,
    });
    await a.setBackend("flags", "x", { health: "up" });
    expect((await b.sync("flags", undefined)).backends["x"]).toMatchObject({ health: "up", admin: "drained" });
  });

  it("tryLock: of 20 concurrent callers on 3 adapters exactly one wins, and after the ttl one caller wins again", async () => {
    const c = await storeOf(worker);
    const stores = [a, b, c];
    const ttlMs = 400;
    const takenAt = Date.now();
    const first = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stores[i % 3]!.tryLock("lock", "health", ttlMs)),
    );
    expect(first.filter(Boolean)).toHaveLength(1);
    // Still held a moment later; other names and pools are separate locks.
    expect(await c.tryLock("lock", "health", ttlMs)).toBe(false);
    expect(await c.tryLock("lock", "other", ttlMs)).toBe(true);
    expect(await c.tryLock("lock-elsewhere", "health", ttlMs)).toBe(true);

    // Poll from all three adapters until somebody takes it again; only one may.
    const deadline = Date.now() + ttlMs + 5_000;
    let winners = 0;
    while (winners === 0 && Date.now() < deadline) {
      const round = await Promise.all(stores.map((s) => s.tryLock("lock", "health", 60_000)));
      winners = round.filter(Boolean).length;
      if (winners === 0) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(winners).toBe(1);
    // workerd's clock, not ours, ran the ttl; allow for the two clocks' reading granularity.
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual(ttlMs - 20);
    expect(await a.tryLock("lock", "health", 60_000)).toBe(false);
  });

  it("tryLock refuses a bad lock name or ttl", async () => {
    await expect(a.tryLock("lock-args", "a:b", 1_000)).rejects.toThrow(TypeError);
    await expect(a.tryLock("lock-args", "health", -1)).rejects.toThrow(RangeError);
    // The object checks too, for a caller that skips the adapter (miniflare's proxy reports
    // any rejected RPC as an AssertionError, so only the rejection is asserted).
    const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
    const stub = namespace.get(namespace.idFromName("lock-args"));
    await expect(stub.tryLock("a:b", 1_000)).rejects.toThrow();
    expect(await a.tryLock("lock-args", "health", 1_000)).toBe(true);
  });

  it("every patch field set through one adapter comes back from another's sync with its type", async () => {
    await a.setBackend("fields", "web|1", FULL);
    const snapshot = (await b.sync("fields", undefined)).backends["web|1"];
    expect(snapshot).toEqual({ ...FULL, inflight: 0, latency: undefined });
    for (const field of PATCH_FIELDS) expect(typeof snapshot?.[field]).toBe(typeof FULL[field]);
  });

  it("partial patches merge: setting ejectedUntil keeps health, and the next value wins", async () => {
    await a.setBackend("merge", "x", { health: "down", streak: 2, reason: "timeout" });
    await b.setBackend("merge", "x", { ejectedUntil: 5_000, ejections: 1 });
    await a.setBackend("merge", "x", { streak: 0, reason: "x".repeat(300) });
    expect((await b.sync("merge", undefined)).backends["x"]).toEqual({
      health: "down",
      streak: 0,
      reason: "x".repeat(200),
      ejectedUntil: 5_000,
      ejections: 1,
      inflight: 0,
      latency: undefined,
    });
  });

  it("refuses unknown fields and wrong types, in the adapter and in the object itself", async () => {
    await a.setBackend("invalid", "x", { health: "up" });
    for (const patch of INVALID_PATCHES) {
      await expect(a.setBackend("invalid", "x", patch as BackendPatch)).rejects.toThrow(TypeError);
    }
    const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
    const stub = namespace.get(namespace.idFromName("invalid"));
    await expect(stub.setBackend("x", { health: "down", colour: "red" } as BackendPatch)).rejects.toThrow();
    await expect(stub.setBackend("x", { streak: "3" } as unknown as BackendPatch)).rejects.toThrow();
    expect((await b.sync("invalid", undefined)).backends["x"]).toEqual({
      health: "up",
      inflight: 0,
      latency: undefined,
    });
  });

  it("agrees with MemoryStore call for call, latency folding included", async () => {
    const memory = new MemoryStore();
    const calls: Array<(store: StateStore) => Promise<unknown>> = [
      (s) => s.setBackend("same", "p", { admin: "disabled" }),
      (s) => s.sync("same", report("i1", { p: 1, q: 2 }, { latency: { q: { count: 1, meanMs: 100 } } })),
      (s) =>
        s.sync(
          "same",
          report("i2", { q: 1 }, { latency: { q: { count: 2, meanMs: 50 }, r: { count: 0, meanMs: 9 } } }),
        ),
      (s) => s.setBackend("same", "q", { health: "down" }),
      (s) => s.sync("same", report("i1", {}, { latency: { p: { count: 5, meanMs: 20 } } })),
      (s) => s.reserve("same", 7),
      (s) => s.reserve("same", 3),
    ];
    const results: unknown[][] = [[], []];
    for (const call of calls) {
      results[0]!.push(await call(memory));
      results[1]!.push(await call(a));
    }
    expect(results[1]!.slice(5)).toEqual(results[0]!.slice(5));
    const [mem, obj] = [await memory.sync("same", undefined), await a.sync("same", undefined)];
    expect(timeless(obj)).toEqual(timeless(mem));
    // q: 100 folded with two samples of 50 at alpha 0.2: 100 * 0.64 + 50 * 0.36 = 82.
    expect(obj.backends["q"]?.latency?.ewmaMs).toBeCloseTo(82, 9);
  });
});

describe("The PoolStateObject across a restart of workerd", () => {
  it("keeps the sequence, flags and latency on disk; in-flight reports are memory only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-lb-do-"));
    const bindings = { BACKENDS: "http://127.0.0.1:9", STATE: "durable-object" };
    try {
      const first = await startWorker(bindings, { ...WITH_DO, durableObjectsPersist: dir });
      try {
        const store = await storeOf(first);
        expect(await store.reserve("restart", 10)).toBe(0);
        await store.setBackend("restart", "x", { admin: "drained" });
        await store.setBackend("restart", "y", FULL);
        await store.setBackend("restart", "y", { ejectedUntil: 42 });
        await store.sync("restart", report("isolate-a", { x: 4 }, { latency: { x: { count: 1, meanMs: 40 } } }));
      } finally {
        await first.dispose();
      }

      // A new workerd process on the same storage: the object is constructed afresh.
      const second = await startWorker(bindings, { ...WITH_DO, durableObjectsPersist: dir });
      try {
        const store = await storeOf(second);
        expect(await store.reserve("restart", 1)).toBe(10);
        const view = await store.sync("restart", undefined);
        expect(view.backends["x"]).toMatchObject({ admin: "drained", inflight: 0, latency: { ewmaMs: 40 } });
        // The whole record, every field with its type, was on disk.
        expect(view.backends["y"]).toEqual({ ...FULL, ejectedUntil: 42, inflight: 0, latency: undefined });
      } finally {
        await second.dispose();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps session placements on disk, and a claim after the restart still sweeps expired ones", async () => {
    const dir = await mkdtemp(join(tmpdir(), "edge-lb-do-"));
    const bindings = { BACKENDS: "http://127.0.0.1:9", STATE: "durable-object" };
    const shortTtlMs = 1_500;
    let shortPlacedAt = 0;
    let shortAnsweredAt = 0;
    try {
      const first = await startWorker(bindings, { ...WITH_DO, durableObjectsPersist: dir });
      try {
        const store = await storeOf(first);
        expect(await store.claimSession("sessions", "kept", "a", 600_000)).toBe("a");
        expect(await store.claimSession("sessions", "moved", "a", 600_000)).toBe("a");
        expect(await store.claimSession("sessions", "moved", "b", 600_000, "a")).toBe("b");
        shortPlacedAt = Date.now();
        // Placed at once, so none lapses (and is swept) before the last is in.
        const shorts = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.claimSession("sessions", `short${i}`, "a", shortTtlMs)),
        );
        expect(shorts).toEqual(Array(10).fill("a"));
        expect(Date.now() - shortPlacedAt).toBeLessThan(shortTtlMs);
        // The object stamped each expiry on its own clock when the claim reached it, which can be
        // any time until the answer came back: expired for sure only a TTL after that.
        shortAnsweredAt = Date.now();
      } finally {
        await first.dispose();
      }
      expect(await sessionRowsOnDisk(dir)).toBe(12);

      const second = await startWorker(bindings, { ...WITH_DO, durableObjectsPersist: dir });
      try {
        const store = await storeOf(second);
        expect(await store.claimSession("sessions", "kept", "c", 600_000)).toBe("a");
        expect(await store.claimSession("sessions", "moved", "c", 600_000)).toBe("b");
        await reachRealTime(shortAnsweredAt + shortTtlMs + 1);
        // An expired placement is replaced, and each claim deletes up to two expired rows:
        // short0 is rewritten, then five claims of new keys remove the other nine.
        expect(await store.claimSession("sessions", "short0", "c", 600_000)).toBe("c");
        for (let i = 0; i < 5; i++) expect(await store.claimSession("sessions", `new${i}`, "c", 600_000)).toBe("c");
      } finally {
        await second.dispose();
      }
      // kept, moved, short0 and the five new ones: nothing expired is left behind.
      expect(await sessionRowsOnDisk(dir)).toBe(8);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
