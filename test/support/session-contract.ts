// StateStore.claimSession's contract, one set of cases for every store suite (memory, upstash,
// durable-object, kv), so the four cannot drift apart.
import { describe, expect, it } from "vitest";
import type { StateStore } from "../../src/state/types.ts";

export interface SessionContractTarget {
  /** The store under test. */
  readonly store: StateStore;
  /** A second instance sharing the store (another client, adapter or isolate); may be `store`. */
  readonly peer: StateStore;
  /**
   * Whether concurrent first claims from different instances must agree. KV cannot promise it
   * (no compare-and-set); it still must within one instance.
   */
  readonly atomicAcrossInstances: boolean;
  /** Idle expiry for the timed cases: a round trip must be small beside a fifth of it. */
  readonly ttlMs: number;
  /** The store's clock, as near as the test can read it. */
  now(): number;
  /** Resolves once now() has reached `at` (moves a manual clock; waits out a real one). */
  reach(at: number): Promise<void>;
  /** Store round trips so far, to show refused calls make none; absent for in-process stores. */
  roundTrips?(): number;
}

let poolSeq = 0;
/** A pool no other case uses, also unlike any left in a store by an earlier run. */
const freshPool = (name: string): string => `sess${++poolSeq}-${name}-${Math.random().toString(36).slice(2, 8)}`;

/** Waits on the real clock, in bounded steps, until `at` has passed. */
export async function reachRealTime(at: number): Promise<void> {
  for (let i = 0; i < 1_000 && Date.now() < at; i++) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, at - Date.now()))));
  }
  expect(Date.now()).toBeGreaterThanOrEqual(at);
}

/**
 * Registers the contract's cases in the calling suite. `target` is read when a case runs, so a
 * suite may build its stores in beforeAll.
 */
export function describeSessionContract(target: () => SessionContractTarget): void {
  describe.sequential("claimSession (the StateStore contract)", () => {
    it("places a new session on the backend given; the first placement wins from then on", async () => {
      const { store, peer } = target();
      const pool = freshPool("first");
      expect(await store.claimSession(pool, "k1", "a", 60_000)).toBe("a");
      expect(await store.claimSession(pool, "k1", "b", 60_000)).toBe("a");
      expect(await peer.claimSession(pool, "k1", "c", 60_000)).toBe("a");
      // Keys and pools are separate placements.
      expect(await peer.claimSession(pool, "k2", "b", 60_000)).toBe("b");
      expect(await store.claimSession(freshPool("other"), "k1", "c", 60_000)).toBe("c");
    });

    it("concurrent first claims of one key agree, each offering a different backend", async () => {
      const { store, peer, atomicAcrossInstances } = target();
      const pool = freshPool("race");
      const offered = ["a", "b", "c", "d", "e", "f", "g", "h"];
      const one = await Promise.all(offered.map((backend) => store.claimSession(pool, "same", backend, 60_000)));
      expect(new Set(one).size).toBe(1);
      expect(offered).toContain(one[0]);
      if (!atomicAcrossInstances) return;
      const both = await Promise.all(
        offered.map((backend, i) => (i % 2 ? peer : store).claimSession(pool, "both", backend, 60_000)),
      );
      expect(new Set(both).size).toBe(1);
    });

    it("a claim renews the idle expiry: claimed at t and t+0.6 ttl, still held at t+1.2 ttl", async () => {
      const { store, peer, ttlMs, now, reach } = target();
      const pool = freshPool("renew");
      expect(await store.claimSession(pool, "k", "a", ttlMs)).toBe("a");
      // Read once the claim has answered: it took effect at t or before, however long it took.
      const t = now();
      await reach(t + 0.6 * ttlMs);
      expect(await peer.claimSession(pool, "k", "b", ttlMs)).toBe("a");
      // The first claim alone would have lapsed by now.
      await reach(t + 1.2 * ttlMs);
      expect(await store.claimSession(pool, "k", "c", ttlMs)).toBe("a");
    });

    it("an expired placement is replaced by the claim that finds it, which then holds", async () => {
      const { store, peer, ttlMs, now, reach } = target();
      const pool = freshPool("expiry");
      expect(await store.claimSession(pool, "k", "a", ttlMs)).toBe("a");
      await reach(now() + ttlMs + 1);
      expect(await peer.claimSession(pool, "k", "b", ttlMs)).toBe("b");
      expect(await store.claimSession(pool, "k", "c", ttlMs)).toBe("b");
    });

    it("`replacing` moves a session off exactly that backend and keeps any other placement", async () => {
      const { store, peer } = target();
      const pool = freshPool("replace");
      expect(await store.claimSession(pool, "k", "a", 60_000)).toBe("a");
      // Replacing a backend the session is not on changes nothing.
      expect(await store.claimSession(pool, "k", "c", 60_000, "b")).toBe("a");
      expect(await peer.claimSession(pool, "k", "b", 60_000, "a")).toBe("b");
      // A second instance leaving "a" too finds the session already moved, and keeps the move.
      expect(await store.claimSession(pool, "k", "c", 60_000, "a")).toBe("b");
      expect(await store.claimSession(pool, "k", "c", 60_000)).toBe("b");
      // With nothing placed, `replacing` is just a first claim.
      expect(await peer.claimSession(pool, "fresh", "x", 60_000, "y")).toBe("x");
    });

    it("refuses a bad key, backend, ttl or replacing with TypeError/RangeError, before any round trip", async () => {
      const { store, roundTrips } = target();
      const pool = freshPool("args");
      const before = roundTrips?.();
      const claim = (key: unknown, backend: unknown, ttlMs: unknown, replacing?: unknown) =>
        store.claimSession(pool, key as string, backend as string, ttlMs as number, replacing as string);
      for (const key of ["", "has space", "a:b", "k*", "x".repeat(129), "é", 42, undefined]) {
        await expect(claim(key, "a", 1_000), String(key)).rejects.toThrow(TypeError);
      }
      for (const backend of ["", 7, null, undefined]) {
        await expect(claim("k", backend, 1_000), String(backend)).rejects.toThrow(TypeError);
      }
      for (const ttlMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1000", 2 ** 60]) {
        await expect(claim("k", "a", ttlMs), String(ttlMs)).rejects.toThrow(RangeError);
      }
      for (const replacing of ["", 5, null]) {
        await expect(claim("k", "a", 1_000, replacing), String(replacing)).rejects.toThrow(TypeError);
      }
      if (roundTrips) expect(roundTrips() - (before ?? 0)).toBe(0);
      // Nothing was placed by the refused calls; the longest valid key is accepted.
      expect(await claim("k", "ok", 60_000)).toBe("ok");
      expect(await claim("x".repeat(128), "ok", 60_000)).toBe("ok");
      expect(await claim("AZaz09_-", "ok", 60_000)).toBe("ok");
    });
  });
}
