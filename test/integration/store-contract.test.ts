// One StateStore contract (test/support/store-contract.ts) run against every store: memory (on a
// clock the test moves), upstash (a real redis-server behind the Upstash REST server), and
// durable-object and kv (workerd through miniflare, driven from Node over its proxies of the
// bindings), and deno-kv (a Deno process holding two DenoKvStores on one database file). Two clients, adapters or isolates stand for two instances sharing the store.
//
// The stores run side by side (their timed cases mostly wait on clocks); each store's own cases
// run one after another, as they count that store's round trips. Real clocks get a 2 s ttl: the
// timed cases need a round trip well under a fifth of it, even on a busy two-core machine.
import { afterAll, beforeAll, describe } from "vitest";
import { DurableObjectStore, type PoolObjectNamespace } from "../../src/state/durable-object-store.ts";
import { type KvNamespaceLike, KvStore } from "../../src/state/kv.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { UpstashStore } from "../../src/state/upstash.ts";
import { type DenoKvStores, startDenoKvStores } from "../support/deno-kv.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { reachRealTime } from "../support/session-contract.ts";
import { describeStoreContract } from "../support/store-contract.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

describe.concurrent("the StateStore contract, every store", () => {
  describe("memory (one process; a clock the test moves)", () => {
    let t = 1_700_000_000_000;
    const now = () => t;
    const store = new MemoryStore(now);
    describeStoreContract(() => ({
      store,
      peer: store,
      shares: { sequence: true, load: true, locks: true, sessions: true },
      ttlMs: 1_000,
      now,
      reach: async (at) => {
        t = Math.max(t, at);
      },
    }));
  });

  describeWithRedis("upstash (Upstash REST over a real redis-server)", () => {
    let stack: UpstashStack;
    let stores: [UpstashStore, UpstashStore];
    beforeAll(async () => {
      stack = await startUpstashStack();
      // A generous client deadline: the cases are about what the store does, and the REST server
      // shares this process with every other store's cases running at the same time.
      const client = () =>
        new UpstashStore({ url: stack.upstash.url, token: stack.upstash.token, prefix: "contract", timeoutMs: 60_000 });
      stores = [client(), client()];
    });
    afterAll(async () => {
      await stack?.stop();
    });
    // Redis's clock (TIME, PX) is the machine's.
    describeStoreContract(() => ({
      store: stores[0],
      peer: stores[1],
      shares: { sequence: true, load: true, locks: true, sessions: true },
      ttlMs: 2_000,
      now: Date.now,
      reach: reachRealTime,
      roundTrips: () => Object.values(stack.upstash.stats.requests).reduce((sum, n) => sum + n, 0),
    }));
  });

  /** One workerd holds both bindings: the pool objects (LB_STATE) and a KV namespace (LB_KV). */
  describe("in workerd", () => {
    let worker: WorkerInstance | undefined;
    const workerd = async (): Promise<WorkerInstance> => {
      worker ??= await startWorker(
        { BACKENDS: "http://127.0.0.1:9", STATE: "durable-object" },
        { durableObjects: { LB_STATE: "PoolStateObject" }, kvNamespaces: ["LB_KV"] },
      );
      return worker;
    };
    afterAll(async () => {
      await worker?.dispose();
    });

    describe("durable-object (PoolStateObject in workerd, through DurableObjectStore)", () => {
      let stores: [DurableObjectStore, DurableObjectStore];
      const stubs = { made: 0 };
      beforeAll(async () => {
        const namespace = (await (
          await workerd()
        ).mf.getDurableObjectNamespace("LB_STATE")) as unknown as PoolObjectNamespace;
        // Every RPC goes through a fresh stub, so stubs made counts round trips attempted.
        const counting: PoolObjectNamespace = {
          idFromName: (name) => namespace.idFromName(name),
          get: (id) => {
            stubs.made++;
            return namespace.get(id);
          },
        };
        // Two adapters stand for two isolates sharing the objects.
        stores = [new DurableObjectStore(counting), new DurableObjectStore(counting)];
      });
      // workerd's clock is the machine's, read at a coarser grain inside the object.
      describeStoreContract(() => ({
        store: stores[0],
        peer: stores[1],
        shares: { sequence: true, load: true, locks: true, sessions: true },
        ttlMs: 2_000,
        now: Date.now,
        reach: reachRealTime,
        roundTrips: () => stubs.made,
        clockSlackMs: 20,
      }));
    });

    describe("kv (Workers KV in workerd, through KvStore): flags and sessions shared, counters per instance", () => {
      let stores: [KvStore, KvStore];
      const calls = { n: 0 };
      beforeAll(async () => {
        const kv = (await (await workerd()).mf.getKVNamespace("LB_KV")) as unknown as KvNamespaceLike;
        const counting: KvNamespaceLike = {
          get: (key, type) => {
            calls.n++;
            return kv.get(key, type);
          },
          put: (key, value, options) => {
            calls.n++;
            return kv.put(key, value, options);
          },
        };
        // Two adapters on one namespace stand for two isolates.
        stores = [new KvStore(counting, "contract", () => {}), new KvStore(counting, "contract", () => {})];
      });
      // KV has no counters and no compare-and-set (KvStore's class comment): the sequence, in-flight
      // counts, latency and locks are each instance's own, and racing first claims may disagree.
      describeStoreContract(() => ({
        store: stores[0],
        peer: stores[1],
        shares: { sequence: false, load: false, locks: false, sessions: false },
        ttlMs: 2_000,
        now: Date.now,
        reach: reachRealTime,
        roundTrips: () => calls.n,
      }));
    });
  });

  describe("deno-kv (Deno KV on a local file, in a Deno process)", () => {
    let deno: DenoKvStores;
    beforeAll(async () => {
      deno = await startDenoKvStores();
    });
    afterAll(async () => {
      await deno?.stop();
    });
    // The clock is the Deno process's (the machine's): Deno KV has no server time.
    describeStoreContract(() => ({
      store: deno.stores[0],
      peer: deno.stores[1],
      shares: { sequence: true, load: true, locks: true, sessions: true },
      ttlMs: 2_000,
      now: Date.now,
      reach: reachRealTime,
      roundTrips: () => deno.ops(),
    }));
  });
});
