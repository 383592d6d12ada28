import { describe, expect, it } from "vitest";
import { type KvNamespaceLike, KvStore } from "../../src/state/kv.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { MAX_REASON_LENGTH, readPatch, sanitizePatch } from "../../src/state/patch.ts";
import { type BackendPatch, PATCH_FIELDS } from "../../src/state/types.ts";
import { FULL_PATCH } from "../support/patches.ts";
import { describeSessionContract } from "../support/session-contract.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

const FULL = FULL_PATCH;

describe("MemoryStore.tryLock", () => {
  it("is exclusive until the ttl passes on the store's clock, then exactly one caller gets it again", async () => {
    const clock = manualClock();
    const store = new MemoryStore(clock.now);
    const first = await Promise.all(Array.from({ length: 20 }, () => store.tryLock("p", "health", 1_000)));
    expect(first.filter(Boolean)).toHaveLength(1);
    expect(first[0]).toBe(true); // one task at a time: the first caller wins

    clock.advance(999);
    expect(await store.tryLock("p", "health", 1_000)).toBe(false);
    clock.advance(1); // the lock frees itself at exactly ttlMs
    const second = await Promise.all(Array.from({ length: 20 }, () => store.tryLock("p", "health", 500)));
    expect(second.filter(Boolean)).toHaveLength(1);
    // The new holder's ttl (500) counts from when it took the lock, not from the old one.
    clock.advance(499);
    expect(await store.tryLock("p", "health", 500)).toBe(false);
    clock.advance(1);
    expect(await store.tryLock("p", "health", 500)).toBe(true);
  });

  it("keeps locks apart by pool and by name", async () => {
    const store = new MemoryStore(manualClock().now);
    expect(await store.tryLock("p", "health", 1_000)).toBe(true);
    expect(await store.tryLock("p", "other", 1_000)).toBe(true);
    expect(await store.tryLock("q", "health", 1_000)).toBe(true);
    expect(await store.tryLock("p", "health", 1_000)).toBe(false);
  });

  it("refuses bad names and ttls", async () => {
    const store = new MemoryStore();
    await expect(store.tryLock("p", "has space", 1_000)).rejects.toThrow(TypeError);
    await expect(store.tryLock("p", "a:b", 1_000)).rejects.toThrow(TypeError);
    await expect(store.tryLock("p", "", 1_000)).rejects.toThrow(TypeError);
    for (const ttl of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(store.tryLock("p", "health", ttl)).rejects.toThrow(RangeError);
    }
    // None of the refused calls took the lock.
    expect(await store.tryLock("p", "health", 1_000)).toBe(true);
  });
});

describe("MemoryStore.claimSession (on a clock the test moves)", () => {
  const clock = manualClock();
  const store = new MemoryStore(clock.now);
  describeSessionContract(() => ({
    store,
    peer: store,
    atomicAcrossInstances: true,
    ttlMs: 1_000,
    now: clock.now,
    reach: async (at) => clock.advance(Math.max(0, at - clock.now())),
  }));

  it("holds a placement until exactly ttlMs after the last claim", async () => {
    const pool = "exact";
    expect(await store.claimSession(pool, "k", "a", 1_000)).toBe("a");
    clock.advance(999);
    expect(await store.claimSession(pool, "k", "b", 1_000)).toBe("a");
    clock.advance(999);
    expect(await store.claimSession(pool, "k", "b", 1_000)).toBe("a");
    clock.advance(1_000);
    expect(await store.claimSession(pool, "k", "b", 1_000)).toBe("b");
  });
});

describe("MemoryStore.setBackend", () => {
  it("round-trips every patch field with its type", async () => {
    const store = new MemoryStore();
    await store.setBackend("p", "b1", FULL);
    const snapshot = (await store.sync("p", undefined)).backends.b1;
    expect(snapshot).toEqual({ ...FULL, inflight: 0 });
    for (const field of PATCH_FIELDS) expect(typeof snapshot?.[field]).toBe(typeof FULL[field]);
  });

  it("merges partial patches: setting ejectedUntil keeps health, and later values win", async () => {
    const store = new MemoryStore();
    await store.setBackend("p", "b1", { health: "down", streak: 2, reason: "timeout" });
    await store.setBackend("p", "b1", { ejectedUntil: 5_000, ejections: 1 });
    await store.setBackend("p", "b1", { streak: 0, health: undefined });
    expect((await store.sync("p", undefined)).backends.b1).toEqual({
      health: "down",
      streak: 0,
      reason: "timeout",
      ejectedUntil: 5_000,
      ejections: 1,
      inflight: 0,
    });
  });

  it("cuts reason to 200 characters", async () => {
    const store = new MemoryStore();
    await store.setBackend("p", "b1", { reason: "x".repeat(500) });
    expect((await store.sync("p", undefined)).backends.b1?.reason).toBe("x".repeat(MAX_REASON_LENGTH));
    // Never half an emoji.
    await store.setBackend("p", "b1", { reason: `${"x".repeat(MAX_REASON_LENGTH - 1)}🚑🚑` });
    expect((await store.sync("p", undefined)).backends.b1?.reason).toBe("x".repeat(MAX_REASON_LENGTH - 1));
  });

  it("rejects invalid patches and leaves the record as it was", async () => {
    const store = new MemoryStore();
    await store.setBackend("p", "b1", { health: "up", streak: 1 });
    const invalid: unknown[] = [
      { health: "sideways" },
      { health: "UP" },
      { admin: "paused" },
      { streak: -1 },
      { streak: 1.5 },
      { streak: "3" },
      { ejections: Number.NaN },
      { since: Number.POSITIVE_INFINITY },
      { ejectedUntil: "soon" },
      { reason: 42 },
      { inflight: 3 },
      { latency: { ewmaMs: 1, updatedAt: 2 } },
      { health: "down", colour: "red" },
      null,
      "down",
      ["health"],
    ];
    for (const patch of invalid) {
      await expect(store.setBackend("p", "b1", patch as BackendPatch), JSON.stringify(patch)).rejects.toThrow(
        TypeError,
      );
    }
    expect((await store.sync("p", undefined)).backends.b1).toEqual({ health: "up", streak: 1, inflight: 0 });
  });

  it("stores a copy, so the caller changing its object later changes nothing", async () => {
    const store = new MemoryStore();
    const patch: { health: "up" | "down" } = { health: "up" };
    await store.setBackend("p", "b1", patch);
    patch.health = "down";
    expect((await store.sync("p", undefined)).backends.b1?.health).toBe("up");
  });
});

describe("sanitizePatch / readPatch", () => {
  it("sanitizePatch keeps exactly the fields set", () => {
    expect(sanitizePatch(FULL)).toEqual(FULL);
    expect(sanitizePatch({})).toEqual({});
    expect(Object.keys(sanitizePatch({ since: 0, health: undefined }))).toEqual(["since"]);
  });

  it("readPatch drops what is invalid instead of throwing, and parses numeric strings", () => {
    expect(
      readPatch({ health: "sideways", admin: "drained", streak: "7", since: "1.5", ejections: "-1", extra: 1 }),
    ).toEqual({
      admin: "drained",
      streak: 7,
      since: 1.5,
    });
    expect(readPatch(null)).toEqual({});
    expect(readPatch("junk")).toEqual({});
  });
});

describe("KvStore (with an in-memory KV)", () => {
  function fakeKv(): KvNamespaceLike & { data: Map<string, string> } {
    const data = new Map<string, string>();
    return {
      data,
      async get(key) {
        const value = data.get(key);
        return value === undefined ? null : JSON.parse(value);
      },
      async put(key, value) {
        data.set(key, value);
      },
    };
  }

  it("round-trips every field between two instances, merges, and refuses invalid patches", async () => {
    const kv = fakeKv();
    const [a, b] = [new KvStore(kv, "lb", () => {}), new KvStore(kv, "lb", () => {})];
    await a.setBackend("p", "b1", FULL);
    await b.setBackend("p", "b1", { ejectedUntil: 9 });
    expect((await b.sync("p", undefined)).backends.b1).toEqual({ ...FULL, ejectedUntil: 9, inflight: 0 });
    await expect(a.setBackend("p", "b1", { admin: "gone" } as never)).rejects.toThrow(TypeError);
    // A hand-edited value that is not valid is dropped on read, the rest still counts.
    kv.data.set("lb:p:flags", JSON.stringify({ b2: { health: "maybe", admin: "disabled" } }));
    expect((await a.sync("p", undefined)).backends.b2).toEqual({ admin: "disabled", inflight: 0 });
  });

  it("takes locks per instance and says health checks run per instance", async () => {
    const kv = fakeKv();
    const logs: string[] = [];
    const [a, b] = [new KvStore(kv, "lb", (l) => logs.push(l)), new KvStore(kv, "lb", (l) => logs.push(l))];
    expect(await a.tryLock("p", "health", 60_000)).toBe(true);
    expect(await a.tryLock("p", "health", 60_000)).toBe(false);
    expect(await b.tryLock("p", "health", 60_000)).toBe(true); // its own holder
    expect(logs[0]).toMatch(/health checks run per instance/);
  });
});
