import { describe, expect, it } from "vitest";
import type { AvailabilityPolicy } from "../../src/balancer/availability.ts";
import { leastConnections } from "../../src/balancer/least-connections.ts";
import { leastResponseTime } from "../../src/balancer/least-response-time.ts";
import { ipHash } from "../../src/balancer/maglev.ts";
import { RotationCache } from "../../src/balancer/rotation.ts";
import { roundRobin } from "../../src/balancer/round-robin.ts";
import type { BalancingAlgorithm } from "../../src/balancer/types.ts";
import { weightedRoundRobin } from "../../src/balancer/weighted-round-robin.ts";
import type { Backend } from "../../src/shared/backend.ts";
import type { BackendPatch, PoolSnapshot } from "../../src/state/types.ts";
import { backend, backends, first, input, loadView, names, tally } from "./fixtures.ts";

const NOW = 1_700_000_000_000;
const POLICY: AvailabilityPolicy = { maxEjectionPercent: 50, panicThresholdPercent: 0, slowStartMs: 0 };

function snapshot(records: Record<string, BackendPatch> = {}): PoolSnapshot {
  const entries = Object.entries(records).map(([name, record]) => [name, { ...record, inflight: 0 }]);
  return { takenAt: NOW, backends: Object.fromEntries(entries) };
}

/** The algorithm with its builds counted, to tell a kept selector from a rebuilt one. */
function counted(algorithm: BalancingAlgorithm): { algorithm: BalancingAlgorithm; builds: Backend[][] } {
  const builds: Backend[][] = [];
  return {
    builds,
    algorithm: {
      ...algorithm,
      build: (list) => {
        builds.push([...list]);
        return algorithm.build(list);
      },
    },
  };
}

describe("RotationCache: rebuilding", () => {
  const list = backends("a", "b", "c");

  it("answers the same rotation for the same snapshot until something expires", () => {
    const { algorithm, builds } = counted(roundRobin);
    const cache = new RotationCache(algorithm, list, POLICY);
    const view = snapshot();
    const first = cache.current(view, NOW);
    expect(cache.current(view, NOW + 60_000)).toBe(first);
    expect(builds).toHaveLength(1);
  });

  it("keeps the selector while the usable set is unchanged, whatever else the snapshot says", () => {
    const { algorithm, builds } = counted(roundRobin);
    const cache = new RotationCache(algorithm, list, POLICY);
    const first = cache.current(snapshot(), NOW);
    const again = cache.current(snapshot({ a: { reason: "noise", streak: 1 } }), NOW + 1);
    expect(again.selector).toBe(first.selector);
    expect(builds).toHaveLength(1);
  });

  it("rebuilds over the usable backends when one goes down or comes back", () => {
    const { algorithm, builds } = counted(roundRobin);
    const cache = new RotationCache(algorithm, list, POLICY);
    const all = cache.current(snapshot(), NOW);
    const down = cache.current(snapshot({ b: { health: "down" } }), NOW + 1);
    expect(down.selector).not.toBe(all.selector);
    expect(down.available).toBe(2);
    expect(down.unavailable.size).toBe(0);
    expect(names(down.selector, input({ seq: 0 }))).toEqual(["a", "c"]);
    cache.current(snapshot(), NOW + 2);
    expect(builds.map((set) => set.map((b) => b.name))).toEqual([
      ["a", "b", "c"],
      ["a", "c"],
      ["a", "b", "c"],
    ]);
  });

  it("rechecks an unchanged snapshot once an ejection ends", () => {
    const { algorithm, builds } = counted(roundRobin);
    const cache = new RotationCache(algorithm, list, POLICY);
    const view = snapshot({ a: { ejectedUntil: NOW + 100 } });
    expect(cache.current(view, NOW).available).toBe(2);
    expect(cache.current(view, NOW + 99).available).toBe(2);
    expect(cache.current(view, NOW + 100).available).toBe(3);
    expect(builds).toHaveLength(2);
  });

  it("updates the ramp shares without rebuilding", () => {
    const { algorithm, builds } = counted(roundRobin);
    const cache = new RotationCache(algorithm, list, { ...POLICY, slowStartMs: 1_000 });
    const view = snapshot({ a: { since: NOW } });
    const early = cache.current(view, NOW + 200);
    const later = cache.current(view, NOW + 600);
    expect(early.rampShare.get("a")).toBe(0.2);
    expect(later.rampShare.get("a")).toBe(0.6);
    expect(later.selector).toBe(early.selector);
    expect(cache.current(view, NOW + 1_000).rampShare.size).toBe(0);
    expect(builds).toHaveLength(1);
  });

  it("reports panic and the tier's backends", () => {
    const tiered: Backend[] = [backend("a"), backend("b"), { ...backend("x"), backup: true }];
    const cache = new RotationCache(roundRobin, tiered, POLICY);
    const backups = cache.current(snapshot({ a: { health: "down" }, b: { health: "down" } }), NOW);
    expect(names(backups.selector, input())).toEqual(["x"]);
    expect(backups.panic).toBe(false);
    const panic = cache.current(snapshot({ a: { health: "down" }, b: { health: "down" }, x: { health: "down" } }), NOW);
    expect(panic.panic).toBe(true);
    expect(names(panic.selector, input())).toEqual(["a", "b"]);
  });
});

describe("RotationCache: ip-hash keeps its table over the tier", () => {
  const list = backends("a", "b", "c", "d");

  it("builds once per tier and reports the unusable members instead of rebuilding", () => {
    const { algorithm, builds } = counted(ipHash);
    const cache = new RotationCache(algorithm, list, POLICY);
    const all = cache.current(snapshot(), NOW);
    const down = cache.current(snapshot({ b: { health: "down" }, c: { admin: "drained" } }), NOW);
    expect(down.selector).toBe(all.selector);
    expect(down.unavailable).toEqual(new Set(["b", "c"]));
    expect(down.available).toBe(2);
    expect(all.unavailable.size).toBe(0);
    expect(builds).toHaveLength(1);
  });

  it("builds the backup tier's table separately, once", () => {
    const tiered: Backend[] = [backend("a"), { ...backend("x"), backup: true }, { ...backend("y"), backup: true }];
    const { algorithm, builds } = counted(ipHash);
    const cache = new RotationCache(algorithm, tiered, POLICY);
    cache.current(snapshot(), NOW);
    const backups = cache.current(snapshot({ a: { health: "down" }, y: { health: "down" } }), NOW);
    expect(backups.unavailable).toEqual(new Set(["y"]));
    cache.current(snapshot({ a: { health: "down" } }), NOW);
    expect(builds.map((set) => set.map((b) => b.name))).toEqual([["a"], ["x", "y"]]);
  });
});

describe("RotationCache: granule (sequence positions per turn)", () => {
  it("is the usable count for round robin", () => {
    const cache = new RotationCache(roundRobin, backends("a", "b", "c"), POLICY);
    expect(cache.current(snapshot(), NOW).granule).toBe(3);
    expect(cache.current(snapshot({ a: { health: "down" } }), NOW).granule).toBe(2);
    expect(
      cache.current(snapshot({ a: { admin: "disabled" }, b: { admin: "disabled" }, c: { admin: "disabled" } }), NOW)
        .granule,
    ).toBe(1);
  });

  it("is the gcd-reduced weight sum for weighted round robin", () => {
    const cache = new RotationCache(weightedRoundRobin, backends(["a", 2], ["b", 4], ["c", 6]), POLICY);
    expect(cache.current(snapshot(), NOW).granule).toBe(6);
    expect(cache.current(snapshot({ b: { health: "down" } }), NOW).granule).toBe(4);
  });

  it.each([ipHash, leastConnections, leastResponseTime])("is 1 for $name", (algorithm) => {
    const cache = new RotationCache(algorithm, backends(["a", 2], ["b", 3]), POLICY);
    expect(cache.current(snapshot(), NOW).granule).toBe(1);
  });
});

describe("RotationCache: weights set at run time", () => {
  const list = backends("a", "b", "c");
  const firsts = (cache: RotationCache, view: PoolSnapshot, count: number) => {
    const rotation = cache.current(view, NOW);
    return tally(Array.from({ length: count }, (_, seq) => first(rotation.selector, input({ seq }))));
  };

  it("weighted round robin follows the shared weights: 3:1:0 over whole schedules", () => {
    const cache = new RotationCache(weightedRoundRobin, list, POLICY);
    expect(firsts(cache, snapshot(), 300)).toEqual(
      new Map([
        ["a", 100],
        ["b", 100],
        ["c", 100],
      ]),
    );
    const view = snapshot({ a: { weight: 3 }, c: { weight: 0 } });
    expect(firsts(cache, view, 400)).toEqual(
      new Map([
        ["a", 300],
        ["b", 100],
      ]),
    );
    const rotation = cache.current(view, NOW);
    expect(rotation.granule).toBe(4);
    expect(rotation.available).toBe(2);
    expect(names(rotation.selector, input())).not.toContain("c");
  });

  it("rebuilds when a weight changes, and only then", () => {
    const { algorithm, builds } = counted(weightedRoundRobin);
    const cache = new RotationCache(algorithm, list, POLICY);
    cache.current(snapshot(), NOW);
    cache.current(snapshot({ a: { weight: 1 } }), NOW + 1); // the configured weight, set again
    cache.current(snapshot({ a: { weight: 2 } }), NOW + 2);
    cache.current(snapshot({ a: { weight: 2, reason: "noise" } }), NOW + 3);
    cache.current(snapshot({ a: { weight: 5 } }), NOW + 4);
    expect(builds.map((set) => set.map((b) => `${b.name}${b.weight}`))).toEqual([
      ["a1", "b1", "c1"],
      ["a2", "b1", "c1"],
      ["a5", "b1", "c1"],
    ]);
  });

  it("takes no new placements on weight 0, not even in panic, but keeps the backend's health", () => {
    const cache = new RotationCache(roundRobin, list, { ...POLICY, panicThresholdPercent: 100 });
    const rotation = cache.current(snapshot({ b: { weight: 0 } }), NOW);
    expect(names(rotation.selector, input())).toEqual(["a", "c"]);
    const allZero = cache.current(snapshot({ a: { weight: 0 }, b: { weight: 0 }, c: { weight: 0 } }), NOW);
    expect(allZero.available).toBe(0);
  });

  it("gives the load-aware algorithms the effective weight", () => {
    // In flight a 1, b 3: b is busier at weight 1, idler per unit of weight at 4.
    const load = loadView({ a: 1, b: 3 });
    for (const algorithm of [leastConnections, leastResponseTime]) {
      const cache = new RotationCache(algorithm, backends("a", "b"), POLICY);
      expect(first(cache.current(snapshot(), NOW).selector, input({ load }))).toBe("a");
      expect(first(cache.current(snapshot({ b: { weight: 4 } }), NOW).selector, input({ load }))).toBe("b");
    }
  });

  it("ip-hash: a new set of weights is a new table; health alone is not", () => {
    const { algorithm, builds } = counted(ipHash);
    const cache = new RotationCache(algorithm, backends("a", "b", "c", "d"), POLICY);
    const all = cache.current(snapshot(), NOW);
    const down = cache.current(snapshot({ b: { health: "down" } }), NOW);
    expect(down.selector).toBe(all.selector);
    const heavier = cache.current(snapshot({ b: { health: "down" }, a: { weight: 3 } }), NOW);
    expect(heavier.selector).not.toBe(all.selector);
    expect(heavier.unavailable).toEqual(new Set(["b"]));
    // A weight change on a backend that is down still changes its share of the table.
    const reweighted = cache.current(snapshot({ b: { health: "down", weight: 2 }, a: { weight: 3 } }), NOW);
    const back = cache.current(snapshot({ b: { weight: 2 }, a: { weight: 3 } }), NOW);
    const zero = cache.current(snapshot({ b: { weight: 2 }, a: { weight: 3 }, d: { weight: 0 } }), NOW);
    expect(builds.map((set) => set.map((b) => `${b.name}${b.weight}`))).toEqual([
      ["a1", "b1", "c1", "d1"],
      ["a3", "b1", "c1", "d1"],
      ["a3", "b2", "c1", "d1"],
      ["a3", "b2", "c1"],
    ]);
    expect(back.selector).toBe(reweighted.selector);
    expect(zero.available).toBe(3);
    // Weighted as set: a (3) takes about half of the keys, d (0) none.
    const keys = Array.from({ length: 6_000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const shares = tally(keys.map((key) => first(zero.selector, input({ key }))));
    expect(shares.get("d")).toBeUndefined();
    expect(Math.abs(shares.get("a")! / 6_000 - 0.5)).toBeLessThan(0.03);
  });
});
