// UpstashStore against a real redis-server through scripts/upstash-local.ts. Counts what goes
// over the wire (the server's stats and onRequest hook) as well as what comes back.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "@upstash/redis";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WORKER_BUILD_OPTIONS } from "../../scripts/build-worker.ts";
import type { UpstashRequestEvent } from "../../scripts/upstash-local.ts";
import { foldSharedLatency } from "../../src/shared/latency.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import {
  type BackendPatch,
  type InstanceReport,
  PATCH_FIELDS,
  type PoolSnapshot,
  type StateStore,
} from "../../src/state/types.ts";
import { UpstashStore } from "../../src/state/upstash.ts";
import { FULL_PATCH, INVALID_PATCHES, instanceReport } from "../support/patches.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";

describeWithRedis("UpstashStore (Upstash REST over a real redis-server)", () => {
  let stack: UpstashStack;
  const events: UpstashRequestEvent[] = [];
  let poolSeq = 0;
  /** A pool name no other test uses. */
  const freshPool = (name: string): string => `p${++poolSeq}-${name}`;
  const PREFIX = "lbtest";

  beforeAll(async () => {
    stack = await startUpstashStack({ onRequest: (event) => events.push(event) });
  });
  afterAll(async () => {
    await stack?.stop();
  });
  beforeEach(() => {
    events.length = 0;
  });

  const store = (prefix = PREFIX, token = stack.upstash.token): UpstashStore =>
    new UpstashStore({ url: stack.upstash.url, token, prefix });

  /** A plain client for looking at Redis directly (through the same REST server). */
  const raw = (): Redis =>
    new Redis({
      url: stack.upstash.url,
      token: stack.upstash.token,
      enableAutoPipelining: false,
      enableTelemetry: false,
      automaticDeserialization: false,
      retry: false,
    });

  const totalRequests = (): number => Object.values(stack.upstash.stats.requests).reduce((sum, n) => sum + n, 0);

  /** HTTP requests `work` made, counted by the server. */
  async function requestsOf<T>(work: () => Promise<T>): Promise<{ result: T; requests: number }> {
    const before = totalRequests();
    const result = await work();
    return { result, requests: totalRequests() - before };
  }

  const chunk = (flat: string[]): [string, string][] =>
    Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!, flat[2 * i + 1]!]);

  const commandNames = (): string[] => events.map((e) => e.commands?.[0]?.[0]?.toLowerCase() ?? "?");

  const report = (instance: string, inflight: Record<string, number>, extra: Partial<InstanceReport> = {}) =>
    instanceReport(instance, inflight, extra, 30_000);

  const inflightOf = (snapshot: PoolSnapshot): Record<string, number> =>
    Object.fromEntries(
      Object.entries(snapshot.backends)
        .filter(([, b]) => b.inflight !== 0)
        .map(([name, b]) => [name, b.inflight]),
    );

  async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (done(value)) return value;
      if (Date.now() > deadline)
        throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  // The StateStore contract (reserve, sync, setBackend, tryLock, claimSession, expiry) runs
  // against this store in store-contract.test.ts; the cases here are about the wire and the keys.

  it("claimSession keeps one key per session, its PX the ttl, renewed by each claim, in one request", async () => {
    const pool = freshPool("sesskey");
    const s = store();
    const key = `${PREFIX}:${pool}:sess:abc_-9`;
    const { result, requests } = await requestsOf(() => s.claimSession(pool, "abc_-9", "web|1", 60_000));
    expect(result).toBe("web|1");
    expect(requests).toBe(1);
    expect(commandNames()).toEqual(["eval"]);
    expect(await raw().get(key)).toBe("web|1");
    const pttl = (await raw().pttl(key)) as number;
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    // A claim with a shorter ttl renews to that ttl (PEXPIRE), leaving the placement as it was.
    events.length = 0;
    expect(await s.claimSession(pool, "abc_-9", "other", 10_000.5)).toBe("web|1");
    expect(commandNames()).toEqual(["evalsha"]);
    const renewed = (await raw().pttl(key)) as number;
    expect(renewed).toBeGreaterThan(5_000);
    expect(renewed).toBeLessThanOrEqual(10_001);
    // Nothing else of the pool's layout was touched.
    expect(((await raw().keys(`${PREFIX}:${pool}:*`)) as string[]).sort()).toEqual([key]);
  });

  it("reserve hands out disjoint contiguous blocks to 50 concurrent callers on 3 clients", async () => {
    const pool = freshPool("seq");
    const stores = [store(), store(), store()];
    const counts = Array.from({ length: 50 }, (_, i) => 1 + ((i * 7) % 13));
    const { result: firsts, requests } = await requestsOf(() =>
      Promise.all(counts.map((count, i) => stores[i % 3]!.reserve(pool, count))),
    );
    expect(requests).toBe(50);
    const blocks = firsts.map((first, i) => ({ first, end: first + counts[i]! })).sort((a, b) => a.first - b.first);
    let expected = 0;
    for (const block of blocks) {
      expect(block.first).toBe(expected); // no gap, no overlap
      expected = block.end;
    }
    expect(expected).toBe(counts.reduce((a, b) => a + b, 0));
    // The next caller continues right after the last block.
    expect(await stores[1]!.reserve(pool, 1)).toBe(expected);
    await expect(stores[0]!.reserve(pool, 1.5)).rejects.toThrow(RangeError);
  });

  it("sync sums in-flight counts across 3 instances; a report is absolute and an empty one clears", async () => {
    const pool = freshPool("sum");
    const [a, b, c] = [store(), store(), store()];
    await a.sync(pool, report("inst-a", { x: 1, y: 2 }));
    await b.sync(pool, report("inst-b", { x: 3 }));
    const fromC = await c.sync(pool, report("inst-c", { y: 4, z: 5 }));
    expect(inflightOf(fromC)).toEqual({ x: 4, y: 6, z: 5 });
    // Every instance sees the same sums, with or without a report of its own.
    expect(inflightOf(await a.sync(pool, undefined))).toEqual({ x: 4, y: 6, z: 5 });
    // Absolute, not additive: b reporting again replaces its figures.
    expect(inflightOf(await b.sync(pool, report("inst-b", { x: 1 })))).toEqual({ x: 2, y: 6, z: 5 });
    // An empty report removes the instance's entry instead of leaving its old counts behind.
    expect(inflightOf(await a.sync(pool, report("inst-a", {})))).toEqual({ x: 1, y: 4, z: 5 });
    const fields = (await raw().hkeys(`${PREFIX}:${pool}:inst`)) as string[];
    expect(fields.sort()).toEqual(["inst-b", "inst-c"]);
  });

  it("a report past its ttl is pruned from the hash by the next sync", async () => {
    const pool = freshPool("ttl");
    const [long, short] = [store(), store()];
    await long.sync(pool, report("long", { x: 1 }));
    await short.sync(pool, report("short", { x: 7 }, { ttlMs: 50 }));
    await until(
      () => long.sync(pool, undefined),
      (s) => (s.backends.x?.inflight ?? 0) === 1,
      2_000,
    );
    expect(await raw().hexists(`${PREFIX}:${pool}:inst`, "short")).toBe(0);
    expect(await raw().hexists(`${PREFIX}:${pool}:inst`, "long")).toBe(1);
  });

  it("folds latency summaries exactly like foldSharedLatency, using the store's clock", async () => {
    const pool = freshPool("lat");
    const [a, b] = [store(), store()];
    const steps: [UpstashStore, number, number][] = [
      [a, 3, 10],
      [b, 2, 40],
      [a, 1, 5.123456789],
      [b, 17, 123.456],
    ];
    let expected: ReturnType<typeof foldSharedLatency> | undefined;
    for (const [client, count, meanMs] of steps) {
      const snap = await client.sync(pool, report(`i${count}`, {}, { latency: { api: { count, meanMs } } }));
      expected = foldSharedLatency(expected, { count, meanMs }, snap.takenAt);
      const got = snap.backends.api?.latency;
      expect(got?.updatedAt).toBe(expected.updatedAt);
      expect(got!.ewmaMs).toBeCloseTo(expected.ewmaMs, 10);
    }
    // count 0 changes nothing, not even updatedAt.
    const before = (await a.sync(pool, undefined)).backends.api!.latency!;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const after = await b.sync(pool, report("z", {}, { latency: { api: { count: 0, meanMs: 999 } } }));
    expect(after.backends.api?.latency).toEqual(before);
  });

  it("setBackend merges patches and every instance's next sync sees them", async () => {
    const pool = freshPool("flags");
    const stores = [store(), store(), store()];
    await stores[0]!.setBackend(pool, "b1", { health: "down" });
    await stores[1]!.setBackend(pool, "b1", { admin: "drained" });
    await stores[2]!.setBackend(pool, "b2", { admin: "disabled", health: "up" });
    for (const s of stores) {
      const snap = await s.sync(pool, undefined);
      expect(snap.backends.b1).toEqual({ health: "down", admin: "drained", inflight: 0 });
      expect(snap.backends.b2).toEqual({ health: "up", admin: "disabled", inflight: 0 });
    }
    await stores[2]!.setBackend(pool, "b1", { health: "up" });
    expect((await stores[0]!.sync(pool, undefined)).backends.b1).toEqual({
      health: "up",
      admin: "drained",
      inflight: 0,
    });
    await expect(stores[0]!.setBackend(pool, "b1", { health: "sideways" as never })).rejects.toThrow(TypeError);
  });

  const FULL = FULL_PATCH;

  it("tryLock: 20 concurrent callers on 3 clients are 20 SET NX PX requests, one winner, the key's PX the ttl", async () => {
    const pool = freshPool("lock");
    const stores = [store(), store(), store()];
    const ttlMs = 600;
    const { result, requests } = await requestsOf(() =>
      Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 3]!.tryLock(pool, "health", ttlMs))),
    );
    expect(result.filter(Boolean)).toHaveLength(1);
    expect(requests).toBe(20); // one SET NX PX each
    expect(commandNames().every((name) => name === "set")).toBe(true);
    const pttl = Number(await raw().pttl(`${PREFIX}:${pool}:lock:health`));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(ttlMs);
  });

  it("tryLock refuses a lock name that could reach another key, without a request", async () => {
    const pool = freshPool("lockname");
    const s = store();
    for (const name of ["a:b", "x y", "", "*"]) {
      const { requests } = await requestsOf(() => expect(s.tryLock(pool, name, 1_000)).rejects.toThrow(TypeError));
      expect(requests).toBe(0);
    }
    await expect(s.tryLock(pool, "health", 0)).rejects.toThrow(RangeError);
    // A fractional ttl is rounded up to whole ms for PX rather than refused by Redis.
    expect(await s.tryLock(pool, "health.v2", 250.5)).toBe(true);
  });

  it("every patch field set through one client comes back from another's sync with its type", async () => {
    const pool = freshPool("fields");
    const [a, b] = [store(), store()];
    const { requests } = await requestsOf(() => a.setBackend(pool, "web|1", FULL));
    expect(requests).toBe(1); // one HSET for all seven fields
    const snapshot = (await b.sync(pool, undefined)).backends["web|1"];
    expect(snapshot).toEqual({ ...FULL, inflight: 0 });
    for (const field of PATCH_FIELDS) expect(typeof snapshot?.[field]).toBe(typeof FULL[field]);
    // Stored as one hash field per patch field, values as strings.
    const stored = (await raw().hgetall(`${PREFIX}:${pool}:flags`)) as Record<string, string> | string[];
    const flat = Array.isArray(stored) ? Object.fromEntries(chunk(stored)) : stored;
    expect(Object.keys(flat).sort()).toEqual(PATCH_FIELDS.map((f) => `web|1|${f}`).sort());
    expect(flat["web|1|ejectedUntil"]).toBe("1767225630000");
    expect(flat["web|1|since"]).toBe("1767225600123.5");
  });

  it("partial patches merge: setting ejectedUntil keeps health, and the next value wins", async () => {
    const pool = freshPool("merge");
    const [a, b, c] = [store(), store(), store()];
    await a.setBackend(pool, "x", { health: "down", streak: 2, reason: "timeout" });
    await b.setBackend(pool, "x", { ejectedUntil: 5_000, ejections: 1 });
    await c.setBackend(pool, "x", { streak: 0, reason: "x".repeat(300) });
    expect((await a.sync(pool, undefined)).backends.x).toEqual({
      health: "down",
      streak: 0,
      reason: "x".repeat(200),
      ejectedUntil: 5_000,
      ejections: 1,
      inflight: 0,
    });
  });

  it("refuses unknown fields and wrong types before sending anything; junk in the hash is ignored", async () => {
    const pool = freshPool("invalid");
    const s = store();
    await s.setBackend(pool, "x", { health: "up" });
    for (const patch of INVALID_PATCHES) {
      const { requests } = await requestsOf(() =>
        expect(s.setBackend(pool, "x", patch as BackendPatch)).rejects.toThrow(TypeError),
      );
      expect(requests).toBe(0);
    }
    // Values written around the adapter: invalid ones and unknown fields never reach the view.
    await raw().hset(`${PREFIX}:${pool}:flags`, {
      "x|streak": "many",
      "x|admin": "paused",
      "x|colour": "red",
      "x|ejections": "2",
    });
    expect((await s.sync(pool, undefined)).backends.x).toEqual({ health: "up", ejections: 2, inflight: 0 });
  });

  it("matches MemoryStore on the same sequence of calls", async () => {
    const pool = freshPool("parity");
    const memory = new MemoryStore();
    const upstash = store();
    const run = async (s: StateStore): Promise<unknown[]> => {
      const out: unknown[] = [];
      out.push(await s.reserve(pool, 5), await s.reserve(pool, 1));
      await s.setBackend(pool, "a", { admin: "drained" });
      await s.sync(pool, report("one", { a: 2, b: 1 }, { latency: { a: { count: 4, meanMs: 12 } } }));
      await s.sync(
        pool,
        report("two", { b: 3, c: 0 }, { latency: { a: { count: 2, meanMs: 30 }, c: { count: 1, meanMs: 7 } } }),
      );
      await s.setBackend(pool, "d", { health: "down" });
      const snap = await s.sync(pool, report("one", {}));
      // Timestamps differ between the stores; everything else must not.
      out.push(
        Object.fromEntries(
          Object.entries(snap.backends).map(([name, b]) => [
            name,
            { ...b, latency: b.latency ? Number(b.latency.ewmaMs.toFixed(9)) : undefined },
          ]),
        ),
      );
      return out;
    };
    expect(await run(upstash)).toEqual(await run(memory));
  });

  it("two prefixes sharing one Redis do not see each other's state", async () => {
    const pool = freshPool("shared");
    const [one, two] = [store("tenant-one"), store("tenant-two")];
    await one.reserve(pool, 10);
    await one.setBackend(pool, "x", { health: "down" });
    await one.sync(pool, report("i", { x: 3 }, { latency: { x: { count: 1, meanMs: 5 } } }));
    expect(await two.reserve(pool, 1)).toBe(0);
    expect(await two.sync(pool, undefined)).toMatchObject({ backends: {} });
    expect((await one.sync(pool, undefined)).backends.x).toMatchObject({ health: "down", inflight: 3 });
  });

  it("keeps TTLs where they belong: the instance hash expires, lasting state does not", async () => {
    const prefix = "ttlcheck";
    const pool = freshPool("keys");
    const s = store(prefix);
    await s.reserve(pool, 1);
    await s.setBackend(pool, "x", { admin: "drained" });
    await s.sync(pool, report("a", { x: 1 }, { ttlMs: 20_000, latency: { x: { count: 1, meanMs: 3 } } }));
    await s.sync(pool, report("b", { x: 1 }, { ttlMs: 60_000 }));
    const r = raw();
    const keys = ((await r.keys(`${prefix}:*`)) as string[]).sort();
    expect(keys).toEqual(["flags", "inst", "lat", "seq"].map((k) => `${prefix}:${pool}:${k}`));
    const pttl = async (name: string): Promise<number> => Number(await r.pttl(`${prefix}:${pool}:${name}`));
    for (const name of ["seq", "flags", "lat"]) expect(await pttl(name)).toBe(-1);
    // The hash lives as long as its latest live entry.
    const inst = await pttl("inst");
    expect(inst).toBeGreaterThan(55_000);
    expect(inst).toBeLessThanOrEqual(60_000);
    // When every instance has reported empty, nothing is left behind.
    await s.sync(pool, report("a", {}));
    await s.sync(pool, report("b", {}));
    expect(await r.exists(`${prefix}:${pool}:inst`)).toBe(0);
  });

  it("survives SCRIPT FLUSH: one NOSCRIPT, one EVAL, then EVALSHA again", async () => {
    const pool = freshPool("noscript");
    const s = store();
    await s.sync(pool, report("i", { x: 1 })); // first call on this client: EVAL
    expect(commandNames()).toEqual(["eval"]);
    events.length = 0;
    await s.sync(pool, report("i", { x: 2 }));
    expect(commandNames()).toEqual(["evalsha"]);
    await raw().scriptFlush();
    events.length = 0;
    const { result, requests } = await requestsOf(() => s.sync(pool, report("i", { x: 3 })));
    expect(inflightOf(result)).toEqual({ x: 3 });
    expect(commandNames()).toEqual(["evalsha", "eval"]);
    expect(requests).toBe(2);
    events.length = 0;
    expect(inflightOf(await s.sync(pool, undefined))).toEqual({ x: 3 });
    expect(commandNames()).toEqual(["evalsha"]);
  });

  it("a wrong token makes every call reject after one request", async () => {
    const pool = freshPool("auth");
    const s = store(PREFIX, "not-the-token");
    for (const call of [
      () => s.reserve(pool, 1),
      () => s.sync(pool, report("i", { x: 1 })),
      () => s.setBackend(pool, "x", { health: "down" }),
      () => s.claimSession(pool, "k", "x", 1_000),
    ]) {
      const before = totalRequests();
      await expect(call()).rejects.toThrow(/Unauthorized/);
      expect(totalRequests() - before).toBe(1);
    }
    expect(events.every((e) => e.status === 401)).toBe(true);
  });

  it("fails fast when the store is unreachable: one connection attempt, no retry loop", async () => {
    let connections = 0;
    const sink: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
    const address = sink.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const s = new UpstashStore({ url: `http://127.0.0.1:${port}`, token: "t", prefix: PREFIX });
      const started = Date.now();
      await expect(s.sync("p", undefined)).rejects.toThrow();
      await expect(s.reserve("p", 1)).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(connections).toBe(2);
    } finally {
      await new Promise((resolve) => sink.close(resolve));
    }
  });

  it("aborts a request the store never answers after timeoutMs", async () => {
    const held = new Set<Socket>();
    const blackHole: Server = createServer((socket) => void held.add(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, "127.0.0.1", resolve));
    const address = blackHole.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const s = new UpstashStore({ url: `http://127.0.0.1:${port}`, token: "t", prefix: PREFIX, timeoutMs: 300 });
      const started = Date.now();
      await expect(s.sync("p", undefined)).rejects.toThrow();
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(2_000);
      expect(held.size).toBe(1);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it("costs exactly one HTTP request per call in steady state", async () => {
    const pool = freshPool("rtt");
    const s = store();
    const measured: Record<string, number> = {};
    const measure = async (label: string, work: () => Promise<unknown>): Promise<void> => {
      measured[label] = (await requestsOf(work)).requests;
    };
    await measure("sync (first call on a client: EVAL)", () => s.sync(pool, report("i", { x: 1 })));
    await measure("sync with report (EVALSHA)", () =>
      s.sync(pool, report("i", { x: 2 }, { latency: { x: { count: 3, meanMs: 4 } } })),
    );
    await measure("sync without report (EVALSHA)", () => s.sync(pool, undefined));
    await measure("reserve (INCRBY)", () => s.reserve(pool, 64));
    await measure("setBackend one field (HSET)", () => s.setBackend(pool, "x", { health: "down" }));
    await measure("setBackend two fields (HSET)", () => s.setBackend(pool, "x", { health: "up", admin: "drained" }));
    await measure("setBackend every field (HSET)", () => s.setBackend(pool, "x", FULL));
    await measure("sync with every field set (EVALSHA)", () => s.sync(pool, undefined));
    await measure("tryLock (SET NX PX)", () => s.tryLock(pool, "health", 5_000));
    await measure("claimSession, first on a client (EVAL)", () => s.claimSession(pool, "k", "x", 5_000));
    await measure("claimSession, held (EVALSHA)", () => s.claimSession(pool, "k", "y", 5_000));
    await measure("claimSession, replacing (EVALSHA)", () => s.claimSession(pool, "k", "y", 5_000, "x"));
    console.log(
      "UpstashStore HTTP requests per call:\n" +
        Object.entries(measured)
          .map(([label, n]) => `  ${label}: ${n}`)
          .join("\n"),
    );
    for (const n of Object.values(measured)) expect(n).toBe(1);
    expect(events.every((e) => e.path === "/")).toBe(true);
  });

  describe("inside workerd (miniflare), bundled like the Worker", () => {
    let dir: string;
    let mf: Miniflare | undefined;
    let inputs: string[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "upstash-store-worker-"));
      const storeModule = fileURLToPath(new URL("../../src/state/upstash.ts", import.meta.url));
      const entry = join(dir, "entry.ts");
      writeFileSync(
        entry,
        `import { UpstashStore } from ${JSON.stringify(storeModule)};
export default {
  async fetch(request, env) {
    const { pool } = await request.json();
    const store = new UpstashStore({ url: env.URL, token: env.TOKEN, prefix: "workerd" });
    const first = await store.reserve(pool, 3);
    await store.setBackend(pool, "x", { admin: "drained" });
    await store.sync(pool, { instance: "w", inflight: { x: 2 }, latency: { x: { count: 1, meanMs: 9 } }, ttlMs: 30000 });
    const snapshot = await store.sync(pool, undefined);
    const placed = [await store.claimSession(pool, "s1", "x", 60000), await store.claimSession(pool, "s1", "y", 60000)];
    return Response.json({ first, snapshot, placed });
  },
};
`,
      );
      const result = await build({
        ...WORKER_BUILD_OPTIONS,
        entryPoints: [entry],
        outfile: join(dir, "worker.js"),
        metafile: true,
      });
      inputs = Object.keys(result.metafile.inputs);
      mf = new Miniflare({
        modules: true,
        scriptPath: join(dir, "worker.js"),
        // The bundle lives outside the working directory: module names are relative to this.
        modulesRoot: dir,
        compatibilityDate: "2026-04-01",
        compatibilityFlags: ["nodejs_compat"],
        bindings: { URL: stack.upstash.url, TOKEN: stack.upstash.token },
        cf: false,
      });
      await mf.ready;
    });
    afterAll(async () => {
      await mf?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("bundles the cloudflare build of @upstash/redis and its web crypto", () => {
      expect(inputs.some((f) => f.endsWith("@upstash/redis/cloudflare.mjs"))).toBe(true);
      expect(inputs.some((f) => f.endsWith("@upstash/redis/nodejs.mjs"))).toBe(false);
    });

    it("reserves, sets flags, syncs and claims a session from inside a Worker, one request per call", async () => {
      const pool = freshPool("workerd");
      const { result: res, requests } = await requestsOf(() =>
        mf!.dispatchFetch("http://lb.test/", { method: "POST", body: JSON.stringify({ pool }) } as never),
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { first: number; snapshot: PoolSnapshot; placed: string[] };
      expect(body.first).toBe(0);
      expect(body.snapshot.backends.x).toMatchObject({ admin: "drained", inflight: 2, latency: { ewmaMs: 9 } });
      expect(body.placed).toEqual(["x", "x"]);
      expect(requests).toBe(6);
    });
  });
});
