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
import { backend, backends, input, names } from "./fixtures.ts";

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
