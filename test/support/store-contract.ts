// The StateStore contract, one set of cases for every store (memory, upstash, durable-object, kv,
// deno-kv), so they cannot drift apart. A store that cannot give a guarantee (KV: no counters, no
// compare-and-set) says so in `shares`, and the case then asserts the weaker behaviour it does
// have, rather than being skipped.
import { describe, expect, it } from "vitest";
import { foldSharedLatency } from "../../src/shared/latency.ts";
import { MAX_REASON_LENGTH } from "../../src/state/patch.ts";
import { type BackendPatch, PATCH_FIELDS, type PoolSnapshot, type StateStore } from "../../src/state/types.ts";
import { FULL_PATCH, INVALID_PATCHES, instanceReport } from "./patches.ts";
import { describeSessionContract } from "./session-contract.ts";

export interface StoreContractTarget {
  /** The store under test. */
  readonly store: StateStore;
  /** A second instance sharing the store (another client, adapter, isolate or process); may be `store`. */
  readonly peer: StateStore;
  /** What the store shares between instances; false: each instance keeps its own (asserted). */
  readonly shares: {
    /** reserve: one sequence for every instance. */
    readonly sequence: boolean;
    /** sync: in-flight counts and latency summed over every instance's reports. */
    readonly load: boolean;
    /** tryLock: one holder among every instance. */
    readonly locks: boolean;
    /** claimSession: concurrent first claims from different instances agree. */
    readonly sessions: boolean;
  };
  /** Expiry used by the timed cases: a round trip must be small beside a fifth of it. */
  readonly ttlMs: number;
  /** The store's clock, as near as the test can read it. */
  now(): number;
  /** Resolves once now() has reached `at` (moves a manual clock; waits out a real one). */
  reach(at: number): Promise<void>;
  /** Store round trips so far, to show refused calls make none; absent for in-process stores. */
  roundTrips?(): number;
  /** How far the store's clock and now() may disagree in reading (ms); 5 unless given. */
  readonly clockSlackMs?: number;
}

/** Polls `probe` on the target's clock in steps of ttl/25 until `done`, bounded to 5 ttl. */
async function pollUntil<T>(t: StoreContractTarget, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = t.now() + 5 * t.ttlMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (t.now() > deadline) throw new Error(`not reached within 5 ttl (last: ${JSON.stringify(value)})`);
    await t.reach(t.now() + Math.max(1, t.ttlMs / 25));
  }
}

let poolSeq = 0;
/** A pool no other case uses, also unlike any left in a store by an earlier run. */
const freshPool = (name: string): string => `c${++poolSeq}-${name}-${Math.random().toString(36).slice(2, 8)}`;

const inflightOf = (snapshot: PoolSnapshot): Record<string, number> =>
  Object.fromEntries(
    Object.entries(snapshot.backends)
      .filter(([, b]) => b.inflight !== 0)
      .map(([name, b]) => [name, b.inflight]),
  );

/** Blocks [first, first + count) sorted: each must start where the previous ended, from `start`. */
function expectGapFree(blocks: readonly (readonly [number, number])[], start = 0): number {
  let expected = start;
  for (const [first, count] of [...blocks].sort((x, y) => x[0] - y[0])) {
    expect(first).toBe(expected);
    expected = first + count;
  }
  return expected;
}

/**
 * Registers the contract's cases in the calling suite. `target` is read when a case runs, so a
 * suite may build its stores in beforeAll.
 */
export function describeStoreContract(target: () => StoreContractTarget): void {
  describe.sequential("reserve", () => {
    it("hands out disjoint, gap-free blocks under 200 concurrent calls from two instances", async () => {
      const { store, peer, shares } = target();
      const pool = freshPool("blocks");
      const counts = Array.from({ length: 200 }, (_, i) => 1 + ((i * 7) % 9));
      const callers = counts.map((_, i) => (i % 2 ? peer : store));
      const firsts = await Promise.all(counts.map((count, i) => callers[i]!.reserve(pool, count)));
      const blocks = firsts.map((first, i) => [first, counts[i]!] as const);
      const total = counts.reduce((sum, n) => sum + n, 0);
      if (shares.sequence) {
        expect(expectGapFree(blocks)).toBe(total);
        // The next caller continues right after the last block; reserve(0) reads without moving it.
        expect(await peer.reserve(pool, 0)).toBe(total);
        expect(await store.reserve(pool, 1)).toBe(total);
      } else {
        // Each instance counts on its own: both sequences start at 0 and are gap-free in themselves.
        const mine = blocks.filter((_, i) => callers[i] === store);
        const theirs = blocks.filter((_, i) => callers[i] === peer);
        const mineEnd = expectGapFree(mine);
        expect(expectGapFree(theirs)).toBe(total - mineEnd);
        expect(await store.reserve(pool, 0)).toBe(mineEnd);
      }
      // Pools are separate sequences.
      expect(await store.reserve(freshPool("other"), 5)).toBe(0);
    });

    it("refuses a count that is not a non-negative integer (RangeError) before any round trip; nothing moves", async () => {
      const { store, roundTrips } = target();
      const pool = freshPool("poison");
      const before = roundTrips?.();
      for (const count of [Number.NaN, 1.5, -1, Number.POSITIVE_INFINITY, "2"]) {
        await expect(store.reserve(pool, count as number), String(count)).rejects.toThrow(RangeError);
      }
      if (roundTrips) expect(roundTrips() - before!).toBe(0);
      expect(await store.reserve(pool, 2)).toBe(0);
      expect(await store.reserve(pool, 1)).toBe(2);
    });
  });

  describe.sequential("sync", () => {
    it("sums in-flight counts over instances; a report is absolute and an empty one clears", async () => {
      const { store, peer, shares } = target();
      const pool = freshPool("sum");
      const report = (instance: string, inflight: Record<string, number>) => instanceReport(instance, inflight);
      await store.sync(pool, report("inst-a", { x: 1, y: 2 }));
      await peer.sync(pool, report("inst-b", { x: 3 }));
      await store.sync(pool, report("inst-c", { y: 4, z: 5 }));
      if (!shares.load) {
        // Per instance: each sees only what was reported through it.
        expect(inflightOf(await store.sync(pool, undefined))).toEqual({ x: 1, y: 6, z: 5 });
        expect(inflightOf(await peer.sync(pool, undefined))).toEqual({ x: 3 });
        expect(inflightOf(await store.sync(pool, report("inst-a", {})))).toEqual({ y: 4, z: 5 });
        return;
      }
      // Every instance sees the same sums, with or without a report of its own.
      expect(inflightOf(await peer.sync(pool, undefined))).toEqual({ x: 4, y: 6, z: 5 });
      expect(inflightOf(await store.sync(pool, undefined))).toEqual({ x: 4, y: 6, z: 5 });
      // Absolute, not additive: inst-b reporting again replaces its figures.
      expect(inflightOf(await peer.sync(pool, report("inst-b", { x: 1 })))).toEqual({ x: 2, y: 6, z: 5 });
      // An empty report removes the instance's counts instead of leaving its old ones behind.
      expect(inflightOf(await store.sync(pool, report("inst-a", {})))).toEqual({ x: 1, y: 4, z: 5 });
      expect(inflightOf(await peer.sync(pool, undefined))).toEqual({ x: 1, y: 4, z: 5 });
    });

    it("a silent instance's report stops counting at its ttl, not before, and never again", async () => {
      const t = target();
      const { store, peer, shares, ttlMs, now, clockSlackMs = 5 } = t;
      const pool = freshPool("ttl");
      // Without shared load, the silent instance reports through the same adapter it is read from.
      const silent = shares.load ? peer : store;
      await store.sync(pool, instanceReport("long", { x: 1 }, {}, 600_000));
      const sentAt = now();
      const first = await silent.sync(pool, instanceReport("short", { x: 7, y: 2 }, {}, ttlMs + 0.5));
      expect(inflightOf(first)).toEqual({ x: 8, y: 2 });
      if (!shares.load) expect(inflightOf(await peer.sync(pool, undefined))).toEqual({});
      const expired = await pollUntil(
        t,
        () => store.sync(pool, undefined),
        (s) => (s.backends["x"]?.inflight ?? 0) === 1,
      );
      // The store started the ttl when the report reached it, after sentAt: it cannot end sooner.
      expect(now() - sentAt).toBeGreaterThanOrEqual(ttlMs - clockSlackMs);
      expect(inflightOf(expired)).toEqual({ x: 1 });
      // y had only in-flight counts: with them gone it is absent or zero, and never counted again.
      expect(expired.backends["y"]?.inflight ?? 0).toBe(0);
      for (let i = 0; i < 3; i++) expect(inflightOf(await silent.sync(pool, undefined))).toEqual({ x: 1 });
    });

    it("counts an instance live for its report's liveMs, once however often it reports; others not at all", async () => {
      const t = target();
      const { store, peer, shares, ttlMs, now, clockSlackMs = 5 } = t;
      const pool = freshPool("live");
      const report = (instance: string, liveMs?: number) => ({
        ...instanceReport(instance, {}),
        ...(liveMs === undefined ? {} : { liveMs }),
      });
      // A report that does not ask to be counted is not.
      expect((await store.sync(pool, report("quiet"))).live).toBeUndefined();
      expect((await store.sync(pool, report("a", 600_000))).live).toBe(1);
      const sentAt = now();
      // Fractions of a millisecond are fine (an instance's liveMs is 1.5 times a measured gap).
      expect((await peer.sync(pool, report("b", ttlMs + 0.5))).live).toBe(shares.load ? 2 : 1);
      expect((await store.sync(pool, report("a", 600_000))).live).toBe(shares.load ? 2 : 1);
      // b goes silent: counted until its liveMs has passed, not before.
      const reader = shares.load ? store : peer;
      const after = await pollUntil(
        t,
        () => reader.sync(pool, undefined),
        (s) => s.live === (shares.load ? 1 : undefined),
      );
      expect(now() - sentAt).toBeGreaterThanOrEqual(ttlMs - clockSlackMs);
      expect(after.live).toBe(shares.load ? 1 : undefined);
      expect((await store.sync(pool, undefined)).live).toBe(1);
    });

    it("folds latency summaries like foldSharedLatency, stamped with the store's clock", async () => {
      const { store, peer, shares } = target();
      const pool = freshPool("lat");
      // Without shared load both steps go through one instance, and the other sees none of it.
      const [a, b] = shares.load ? [store, peer] : [store, store];
      const steps: [StateStore, number, number][] = [
        [a, 3, 10],
        [b, 2, 40],
        [a, 1, 5.123456789],
        [b, 17, 123.456],
      ];
      let expected: ReturnType<typeof foldSharedLatency> | undefined;
      for (const [client, count, meanMs] of steps) {
        const snap = await client.sync(pool, instanceReport(`i${count}`, {}, { latency: { api: { count, meanMs } } }));
        expected = foldSharedLatency(expected, { count, meanMs }, snap.takenAt);
        const got = snap.backends["api"]?.latency;
        expect(got?.updatedAt).toBe(expected.updatedAt);
        expect(got!.ewmaMs).toBeCloseTo(expected.ewmaMs, 10);
      }
      // A count of 0 changes nothing, not even updatedAt.
      const before = (await a.sync(pool, undefined)).backends["api"]!.latency!;
      const after = await b.sync(pool, instanceReport("z", {}, { latency: { api: { count: 0, meanMs: 999 } } }));
      expect(after.backends["api"]?.latency).toEqual(before);
      if (!shares.load) expect((await peer.sync(pool, undefined)).backends["api"]?.latency).toBeUndefined();
    });
  });

  describe.sequential("setBackend", () => {
    it("every patch field set through one instance comes back from the other's sync with its type", async () => {
      const { store, peer } = target();
      const pool = freshPool("fields");
      await store.setBackend(pool, "web|1", FULL_PATCH);
      const snapshot = (await peer.sync(pool, undefined)).backends["web|1"];
      expect(snapshot).toEqual({ ...FULL_PATCH, inflight: 0 });
      for (const field of PATCH_FIELDS) expect(typeof snapshot?.[field]).toBe(typeof FULL_PATCH[field]);
    });

    it("merges partial patches: ejectedUntil keeps health, the next value wins, reason is cut", async () => {
      const { store, peer } = target();
      const pool = freshPool("merge");
      await store.setBackend(pool, "x", { health: "down", streak: 2, reason: "timeout" });
      await peer.setBackend(pool, "x", { ejectedUntil: 5_000, ejections: 1 });
      await store.setBackend(pool, "x", { streak: 0, health: undefined, reason: "x".repeat(300) });
      expect((await peer.sync(pool, undefined)).backends["x"]).toEqual({
        health: "down",
        streak: 0,
        reason: "x".repeat(MAX_REASON_LENGTH),
        ejectedUntil: 5_000,
        ejections: 1,
        inflight: 0,
      });
      // Never half an emoji.
      await peer.setBackend(pool, "x", { reason: `${"x".repeat(MAX_REASON_LENGTH - 1)}🚑🚑` });
      expect((await store.sync(pool, undefined)).backends["x"]?.reason).toBe("x".repeat(MAX_REASON_LENGTH - 1));
      await store.setBackend(pool, "x", { health: "up" });
      expect((await peer.sync(pool, undefined)).backends["x"]).toMatchObject({ health: "up", ejections: 1 });
    });

    it("refuses unknown fields and wrong types with a TypeError before any round trip; the record stays", async () => {
      const { store, peer, roundTrips } = target();
      const pool = freshPool("invalid");
      await store.setBackend(pool, "x", { health: "up", streak: 1 });
      const invalid: unknown[] = [
        ...INVALID_PATCHES,
        { health: "sideways" },
        { health: "UP" },
        { ejectedUntil: "soon" },
        { latency: { ewmaMs: 1, updatedAt: 2 } },
        { streak: 1.5 },
        { streak: "3" },
        { ejections: Number.NaN },
        { since: Number.POSITIVE_INFINITY },
        { weight: 1_001 },
        { inflight: 3 },
        { health: "down", colour: "red" },
        null,
        "down",
        ["health"],
      ];
      const before = roundTrips?.();
      for (const patch of invalid) {
        await expect(store.setBackend(pool, "x", patch as BackendPatch), JSON.stringify(patch)).rejects.toThrow(
          TypeError,
        );
      }
      if (roundTrips) expect(roundTrips() - before!).toBe(0);
      expect((await peer.sync(pool, undefined)).backends["x"]).toEqual({ health: "up", streak: 1, inflight: 0 });
    });
  });

  describe.sequential("tryLock", () => {
    it("of 20 concurrent callers one holder wins; after the ttl, not before, one wins again; names and pools are apart", async () => {
      const t = target();
      const { store, peer, shares, ttlMs, now, clockSlackMs = 5 } = t;
      const pool = freshPool("lock");
      const takenAt = now();
      const first = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? peer : store).tryLock(pool, "health", ttlMs)),
      );
      if (shares.locks) {
        expect(first.filter(Boolean)).toHaveLength(1);
      } else {
        // Each instance is its own lock holder: one winner among each instance's callers.
        expect(first.filter((won, i) => won && i % 2 === 0)).toHaveLength(1);
        expect(first.filter((won, i) => won && i % 2 === 1)).toHaveLength(1);
      }
      expect(await store.tryLock(pool, "health", ttlMs)).toBe(false);
      expect(await peer.tryLock(pool, "health", ttlMs)).toBe(false);
      expect(await store.tryLock(pool, "other", ttlMs)).toBe(true);
      expect(await store.tryLock(freshPool("lock-elsewhere"), "health", ttlMs)).toBe(true);
      // Poll until somebody takes it again: one caller only (per instance, where each holds its own).
      const retake = async (callers: readonly StateStore[]) =>
        pollUntil(
          t,
          async () => (await Promise.all(callers.map((s) => s.tryLock(pool, "health", 60_000)))).filter(Boolean).length,
          (n) => n > 0,
        );
      if (shares.locks) expect(await retake([store, peer, store, peer])).toBe(1);
      else for (const instance of [store, peer]) expect(await retake([instance, instance, instance])).toBe(1);
      expect(now() - takenAt).toBeGreaterThanOrEqual(ttlMs - clockSlackMs);
      expect(await store.tryLock(pool, "health", 60_000)).toBe(false);
      expect(await peer.tryLock(pool, "health", 60_000)).toBe(false);
    });

    it("refuses a bad lock name (TypeError) or ttl (RangeError) before any round trip", async () => {
      const { store, roundTrips } = target();
      const pool = freshPool("lockargs");
      const before = roundTrips?.();
      for (const name of ["a:b", "x y", "", "*", 7, undefined]) {
        await expect(store.tryLock(pool, name as string, 1_000), String(name)).rejects.toThrow(TypeError);
      }
      for (const ttl of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, "1000"]) {
        await expect(store.tryLock(pool, "health", ttl as number), String(ttl)).rejects.toThrow(RangeError);
      }
      if (roundTrips) expect(roundTrips() - before!).toBe(0);
      // None of the refused calls took the lock; a fractional ttl is rounded up, not refused.
      expect(await store.tryLock(pool, "health", 250.5)).toBe(true);
    });
  });

  describeSessionContract(() => {
    const t = target();
    return {
      store: t.store,
      peer: t.peer,
      atomicAcrossInstances: t.shares.sessions,
      ttlMs: t.ttlMs,
      now: t.now,
      reach: t.reach,
      ...(t.roundTrips ? { roundTrips: t.roundTrips } : {}),
    };
  });
}
