import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { DurableObjectStore, type PoolObjectNamespace } from "../../src/state/durable-object-store.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import type { BackendPatch, InstanceReport, PoolSnapshot, StateStore } from "../../src/state/types.ts";
import { FULL_PATCH, instanceReport } from "../support/patches.ts";
import { bunBinary } from "../support/runtimes.ts";
import { reachRealTime } from "../support/session-contract.ts";
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
async function storeOf(worker: WorkerInstance): Promise<DurableObjectStore> {
  return new DurableObjectStore(
    (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace,
  );
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
      const response = await worker.direct(`/rr/${i}`);
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
    // 3,000 requests one after another through one workerd: about 20 ms each on a busy 2-core machine.
  }, 150_000);
});

describe("The PoolStateObject's semantics, through DurableObjectStore over miniflare", () => {
  let worker: WorkerInstance;
  let a: DurableObjectStore;
  let b: DurableObjectStore;

  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: "http://127.0.0.1:9", STATE: "durable-object" }, WITH_DO);
    // Two adapters stand for two isolates sharing the object.
    [a, b] = [await storeOf(worker), await storeOf(worker)];
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  // The StateStore contract (test/integration/store-contract.test.ts) covers the adapter; these
  // cases are the object's own: it checks every argument again, for a caller that skips the adapter.
  it("claimSession and reserve are checked in the object too, for a caller that skips the adapter", async () => {
    const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
    const stub = namespace.get(namespace.idFromName("sess-args"));
    // miniflare's proxy reports any rejected RPC as an AssertionError: only the rejection is asserted.
    // A NaN or fractional count would poison the durable sequence for good.
    for (const count of [Number.NaN, 1.5, -1]) await expect(stub.reserve(count)).rejects.toThrow();
    expect(await stub.reserve(2)).toBe(0);
    await expect(stub.claimSession("a:b", "x", 1_000)).rejects.toThrow();
    await expect(stub.claimSession("k", "", 1_000)).rejects.toThrow();
    await expect(stub.claimSession("k", "x", Number.NaN)).rejects.toThrow();
    await expect(stub.claimSession("k", "x", 1_000, "")).rejects.toThrow();
    expect(await a.claimSession("sess-args", "k", "ok", 60_000)).toBe("ok");
  });

  it("tryLock is checked in the object too", async () => {
    // miniflare's proxy reports any rejected RPC as an AssertionError: only the rejection is asserted.
    const namespace = (await worker.mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
    const stub = namespace.get(namespace.idFromName("lock-args"));
    await expect(stub.tryLock("a:b", 1_000)).rejects.toThrow();
    expect(await a.tryLock("lock-args", "health", 1_000)).toBe(true);
  });

  it("setBackend is checked in the object too: unknown fields and wrong types are refused", async () => {
    await a.setBackend("invalid", "x", { health: "up" });
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
