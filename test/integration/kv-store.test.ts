import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type KvNamespaceLike, KvStore } from "../../src/state/kv.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

/** A KV binding that counts what goes through it, as two instances' adapters would share one. */
function countingKv(kv: KvNamespaceLike): KvNamespaceLike & { gets: number; puts: number } {
  const counted = {
    gets: 0,
    puts: 0,
    get(key: string, type: "json") {
      counted.gets++;
      return kv.get(key, type);
    },
    put(key: string, value: string, options?: { expirationTtl?: number }) {
      counted.puts++;
      return kv.put(key, value, options);
    },
  };
  return counted;
}

describe("STATE=kv: shared flags from Workers KV, per-instance counters", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), STATE: "kv" }, { kvNamespaces: ["LB_KV"] });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("says at start-up that counters are per instance", async () => {
    await (await worker.fetch("/")).arrayBuffer();
    await expect.poll(() => worker.logs.some((l) => l.includes("STATE=kv") && l.includes("per instance"))).toBe(true);
  });

  it("takes a backend's disabled flag from KV", async () => {
    const kv = await worker.mf.getKVNamespace("LB_KV");
    const b = upstreams[1]!;
    const name = new URL(b.url).host;
    await kv.put("edge-lb:default:flags", JSON.stringify({ [name]: { admin: "disabled" } }));
    // The view refreshes about once a second while requests flow; wait for b to drop out.
    await expect
      .poll(
        async () => {
          const responses = [];
          for (let i = 0; i < 6; i++) responses.push(await worker.fetch("/"));
          return tally(responses)["b"] ?? 0;
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(0);
    const responses = [];
    for (let i = 0; i < 60; i++) {
      const response = await worker.fetch("/");
      await response.arrayBuffer();
      responses.push(response);
    }
    expect(tally(responses)).toEqual({ a: 30, c: 30 });
  });
});

describe("KvStore.claimSession over miniflare's KV (the LB_KV binding, driven from Node)", () => {
  let worker: WorkerInstance;
  let kv: ReturnType<typeof countingKv>;
  let a: KvStore;
  let b: KvStore;

  beforeAll(async () => {
    worker = await startWorker({ BACKENDS: "http://127.0.0.1:9", STATE: "kv" }, { kvNamespaces: ["LB_KV"] });
    kv = countingKv((await worker.mf.getKVNamespace("LB_KV")) as unknown as KvNamespaceLike);
    // Two adapters on one namespace stand for two isolates.
    [a, b] = [new KvStore(kv, "lbtest", () => {}), new KvStore(kv, "lbtest", () => {})];
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  // The claimSession contract itself (not atomic across instances) is in store-contract.test.ts.
  it("stores one key per session with KV's minimum expirationTtl (60 s) for a shorter ttl", async () => {
    const namespace = await worker.mf.getKVNamespace("LB_KV");
    const before = Math.floor(Date.now() / 1000);
    expect(await a.claimSession("ttl", "short", "x", 1_000)).toBe("x");
    expect(await a.claimSession("ttl", "long", "x", 3_600_000.5)).toBe("x");
    const { keys } = await namespace.list({ prefix: "lbtest:ttl:sess:" });
    const expiration = Object.fromEntries(keys.map((k) => [k.name, k.expiration]));
    expect(Object.keys(expiration).sort()).toEqual(["lbtest:ttl:sess:long", "lbtest:ttl:sess:short"]);
    expect(expiration["lbtest:ttl:sess:short"]).toBeGreaterThanOrEqual(before + 60);
    expect(expiration["lbtest:ttl:sess:short"]).toBeLessThanOrEqual(before + 62);
    expect(expiration["lbtest:ttl:sess:long"]).toBeGreaterThanOrEqual(before + 3_601);
  });

  it("writes only to place a session or to renew it (at most once per quarter ttl, capped at 60 s)", async () => {
    kv.gets = 0;
    kv.puts = 0;
    expect(await a.claimSession("writes", "k", "x", 600_000)).toBe("x");
    expect([kv.gets, kv.puts]).toEqual([1, 1]);
    for (let i = 0; i < 5; i++) expect(await b.claimSession("writes", "k", "y", 600_000)).toBe("x");
    // Held and not due for renewal: reads only.
    expect([kv.gets, kv.puts]).toEqual([6, 1]);
    expect(await b.claimSession("writes", "k", "y", 600_000, "x")).toBe("y");
    expect([kv.gets, kv.puts]).toEqual([7, 2]);
  });

  it("concurrent claims of one key on one instance share one read and one write", async () => {
    kv.gets = 0;
    kv.puts = 0;
    const placed = await Promise.all(
      ["p", "q", "r", "s", "t", "u"].map((x) => a.claimSession("burst", "k", x, 60_000)),
    );
    expect(new Set(placed)).toEqual(new Set(["p"]));
    expect([kv.gets, kv.puts]).toEqual([1, 1]);
    // One that is leaving the backend the shared claim ended on runs its own claim after it.
    const [kept, moved] = await Promise.all([
      a.claimSession("burst", "j", "p", 60_000),
      a.claimSession("burst", "j", "q", 60_000, "p"),
    ]);
    expect([kept, moved]).toEqual(["p", "q"]);
    expect(await b.claimSession("burst", "j", "r", 60_000)).toBe("q");
  });

  it("two instances racing on a new session may each keep their own answer; the last write then wins for both", async () => {
    const [fromA, fromB] = await Promise.all([
      a.claimSession("race", "k", "x", 60_000),
      b.claimSession("race", "k", "y", 60_000),
    ]);
    // Both read "nothing placed" before either wrote, so each may answer its own offer.
    expect(["x", "y"]).toContain(fromA);
    expect(["x", "y"]).toContain(fromB);
    const settled = await a.claimSession("race", "k", "z", 60_000);
    expect(await b.claimSession("race", "k", "z", 60_000)).toBe(settled);
    expect(["x", "y"]).toContain(settled);
  });

  it("a hand-edited or foreign value under a session key counts as no placement", async () => {
    const namespace = await worker.mf.getKVNamespace("LB_KV");
    for (const junk of ['"web"', '{"backend":"","until":99999999999999}', '{"backend":"w","until":"soon"}', "[1]"]) {
      await namespace.put("lbtest:junk:sess:k", junk);
      expect(await a.claimSession("junk", "k", "fresh", 60_000), junk).toBe("fresh");
    }
  });
});
