import { describe, expect, it } from "vitest";
import { type KvNamespaceLike, KvStore } from "../../src/state/kv.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { readPatch, sanitizePatch } from "../../src/state/patch.ts";
import { FULL_PATCH } from "../support/patches.ts";

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
});

// The StateStore contract (reserve, sync, setBackend, tryLock, claimSession) runs against
// MemoryStore in test/integration/store-contract.test.ts; these are its exact-clock boundaries.
describe("MemoryStore.claimSession (on a clock the test moves)", () => {
  const clock = manualClock();
  const store = new MemoryStore(clock.now);

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
