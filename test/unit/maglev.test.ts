import { describe, expect, it } from "vitest";
import { CandidateWalk } from "../../src/balancer/candidate-walk.ts";
import { buildMaglev, buildMaglevTable, MAGLEV_PRIMES, maglevTableSize } from "../../src/balancer/maglev.ts";
import type { Backend } from "../../src/shared/backend.ts";
import { mulberry32 } from "../support/prng.ts";
import { backends, first, input, names, numbered, randomIPv4, tally } from "./fixtures.ts";

const KEYS = (() => {
  const random = mulberry32(2016);
  return Array.from({ length: 100_000 }, () => randomIPv4(random));
})();

function mapKeys(list: readonly Backend[], excluded: ReadonlySet<string> = new Set()): string[] {
  const selector = buildMaglev(list);
  return KEYS.map((key) => new CandidateWalk(selector, input({ key }), { unavailable: excluded }).next()!.name);
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

describe("maglev table", () => {
  it("lists only primes, in increasing order", () => {
    for (const p of MAGLEV_PRIMES) expect(isPrime(p), `${p}`).toBe(true);
    expect([...MAGLEV_PRIMES].sort((a, b) => a - b)).toEqual(MAGLEV_PRIMES);
  });

  it("keeps at least 100 slots per backend, 65537 by default", () => {
    expect(maglevTableSize(1)).toBe(65537);
    expect(maglevTableSize(655)).toBe(65537);
    expect(maglevTableSize(656)).toBe(131071);
    expect(maglevTableSize(2000)).toBe(262147);
    expect(() => maglevTableSize(1_000_000)).toThrow(RangeError);
  });

  it("fills every slot, equal weights within one slot of each other", () => {
    const table = buildMaglevTable(numbered(7), 65537);
    expect(table.includes(-1)).toBe(false);
    const counts = [...tally(table).values()];
    expect(counts).toHaveLength(7);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it("does not depend on the order backends are listed in", () => {
    const list = numbered(12);
    const forward = buildMaglev(list);
    const reversed = buildMaglev([...list].reverse());
    for (const key of KEYS.slice(0, 5_000)) {
      expect(names(reversed, input({ key }))).toEqual(names(forward, input({ key })));
    }
  });
});

describe("ip hash (weighted maglev)", () => {
  const ten = numbered(10);

  it("maps the same key to the same backend, across calls and independent builds", () => {
    const a = buildMaglev(ten);
    const b = buildMaglev(numbered(10));
    for (const key of KEYS.slice(0, 10_000)) {
      const choice = first(a, input({ key }));
      expect(first(a, input({ key }))).toBe(choice);
      expect(first(b, input({ key }))).toBe(choice);
    }
    // ...and a different key set does reach different backends.
    expect(new Set(KEYS.slice(0, 100).map((key) => first(a, input({ key })))).size).toBe(10);
  });

  it("balances 100,000 IPv4 keys over 10 equal backends within 1.10 x the mean", () => {
    const counts = tally(mapKeys(ten));
    const maxOverMean = Math.max(...counts.values()) / (KEYS.length / 10);
    console.log(`maglev balance: 10 backends, 100k keys, max/mean = ${maxOverMean.toFixed(4)}`);
    expect(counts.size).toBe(10);
    expect(maxOverMean).toBeLessThanOrEqual(1.1);
  });

  it("excluding one backend moves at most 12% of keys, only those that were on it", () => {
    const before = mapKeys(ten);
    const after = mapKeys(ten, new Set(["b3"]));
    let moved = 0;
    KEYS.forEach((_, i) => {
      if (before[i] === after[i]) return;
      moved++;
      expect(before[i]).toBe("b3");
    });
    expect(after.includes("b3")).toBe(false);
    const share = moved / KEYS.length;
    console.log(`maglev exclusion of 1 of 10: moved share = ${(share * 100).toFixed(2)}%`);
    expect(share).toBeLessThanOrEqual(0.12);
    expect(moved).toBe(before.filter((name) => name === "b3").length);
  });

  it("spreads an excluded backend's keys over the others in proportion to weight", () => {
    const list = backends(["w1", 1], ["w1b", 1], ["w2", 2], ["w4", 4]);
    const before = mapKeys(list);
    const after = mapKeys(list, new Set(["w4"]));
    const moved = tally(after.filter((_, i) => before[i] === "w4"));
    const total = [...moved.values()].reduce((s, c) => s + c, 0);
    expect(moved.get("w1")! / total).toBeCloseTo(1 / 4, 1);
    expect(moved.get("w1b")! / total).toBeCloseTo(1 / 4, 1);
    expect(moved.get("w2")! / total).toBeCloseTo(2 / 4, 1);
  });

  it("a rebuild without the backend disrupts only slightly more than exclusion", () => {
    const before = mapKeys(ten);
    const after = mapKeys(ten.filter((b) => b.name !== "b3"));
    let moved = 0;
    let collateral = 0;
    KEYS.forEach((_, i) => {
      if (before[i] === after[i]) return;
      moved++;
      if (before[i] !== "b3") collateral++;
    });
    const survivors = before.filter((name) => name !== "b3").length;
    const movedShare = moved / KEYS.length;
    const collateralShare = collateral / survivors;
    const balance = Math.max(...tally(after).values()) / (KEYS.length / 9);
    console.log(
      `maglev rebuild without 1 of 10: moved share = ${(movedShare * 100).toFixed(2)}%, ` +
        `keys of surviving backends moved = ${(collateralShare * 100).toFixed(2)}%, ` +
        `max/mean after = ${balance.toFixed(4)}`,
    );
    expect(after.includes("b3")).toBe(false);
    expect(movedShare).toBeLessThanOrEqual(0.15);
    expect(collateralShare).toBeGreaterThan(0); // Maglev is not perfectly minimal; it is small
    expect(collateralShare).toBeLessThan(0.05);
    expect(balance).toBeLessThanOrEqual(1.1);
  });

  it("weights 1,2,3 give shares within 5% (relative) of 1/6, 2/6, 3/6", () => {
    const counts = tally(mapKeys(backends(["one", 1], ["two", 2], ["three", 3])));
    const shares = {
      one: counts.get("one")! / KEYS.length,
      two: counts.get("two")! / KEYS.length,
      three: counts.get("three")! / KEYS.length,
    };
    console.log(
      "maglev weights 1,2,3 shares:",
      Object.entries(shares)
        .map(([name, s]) => `${name}=${s.toFixed(4)}`)
        .join(" "),
    );
    expect(Math.abs(shares.one / (1 / 6) - 1)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(shares.two / (2 / 6) - 1)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(shares.three / (3 / 6) - 1)).toBeLessThanOrEqual(0.05);
  });

  it("yields every backend exactly once for any key, even past the probe bound", () => {
    const random = mulberry32(5);
    for (const n of [1, 2, 3, 10, 40]) {
      // A tiny table makes several backends share few slots, so the name-order tail is used.
      const selector = buildMaglev(
        numbered(n, (i) => 1 + (i % 3)),
        { tableSize: 211 },
      );
      const all = numbered(n)
        .map((b) => b.name)
        .sort();
      for (let t = 0; t < 200; t++) {
        const key = randomIPv4(random);
        expect(names(selector, input({ key })).sort()).toEqual(all);
      }
    }
    expect(() => buildMaglev(numbered(5), { tableSize: 3 })).toThrow(RangeError);
  });

  it("returns undefined when all are excluded and nothing for an empty set", () => {
    const selector = buildMaglev(backends("a", "b"));
    expect(new CandidateWalk(selector, input(), { unavailable: new Set(["a", "b"]) }).next()).toBeUndefined();
    expect(names(buildMaglev([]), input())).toEqual([]);
  });
});
