import { describe, expect, it } from "vitest";
import {
  type AvailabilityPolicy,
  decideAvailability,
  effectiveWeight,
  ejectionCap,
} from "../../src/balancer/availability.ts";
import type { Backend } from "../../src/shared/backend.ts";
import type { BackendPatch } from "../../src/state/types.ts";
import { backend, backends } from "./fixtures.ts";

const NOW = 1_700_000_000_000;
const POLICY: AvailabilityPolicy = { maxEjectionPercent: 50, panicThresholdPercent: 0, slowStartMs: 0 };

function backup(name: string): Backend {
  return { ...backend(name), backup: true };
}

function decide(
  list: readonly Backend[],
  records: Record<string, BackendPatch>,
  policy: Partial<AvailabilityPolicy> = {},
) {
  return decideAvailability(list, (name) => records[name], NOW, { ...POLICY, ...policy });
}

const usableNames = (decided: { usable: readonly Backend[] }) => decided.usable.map((b) => b.name);

describe("ejectionCap", () => {
  it("is the floored share of the pool, at least one, none at 0%", () => {
    expect(ejectionCap(10, 25)).toBe(2);
    expect(ejectionCap(4, 50)).toBe(2);
    expect(ejectionCap(3, 10)).toBe(1);
    expect(ejectionCap(1, 50)).toBe(1);
    expect(ejectionCap(5, 100)).toBe(5);
    expect(ejectionCap(5, 0)).toBe(0);
  });
});

describe("decideAvailability: ejections", () => {
  it("honours the ejections ending soonest up to the cap; the rest keep serving", () => {
    const list = backends("a", "b", "c", "d");
    const decided = decide(list, {
      a: { ejectedUntil: NOW + 300 },
      b: { ejectedUntil: NOW + 100 },
      c: { ejectedUntil: NOW + 200 },
    });
    expect(usableNames(decided)).toEqual(["a", "d"]);
    expect(decided.validUntil).toBe(NOW + 100);
    expect(decided.panic).toBe(false);
  });

  it("breaks ties between equal ends by name", () => {
    const decided = decide(backends("a", "b", "c", "d"), {
      d: { ejectedUntil: NOW + 100 },
      b: { ejectedUntil: NOW + 100 },
      c: { ejectedUntil: NOW + 100 },
    });
    expect(usableNames(decided)).toEqual(["a", "d"]);
  });

  it("honours none at 0% and ignores ejections that already ended", () => {
    expect(
      usableNames(decide(backends("a", "b"), { a: { ejectedUntil: NOW + 100 } }, { maxEjectionPercent: 0 })),
    ).toEqual(["a", "b"]);
    const ended = decide(backends("a", "b"), { a: { ejectedUntil: NOW } });
    expect(usableNames(ended)).toEqual(["a", "b"]);
    expect(ended.validUntil).toBe(Infinity);
  });

  it("ejects backups without a cap", () => {
    const list = [backend("a"), backup("x"), backup("y")];
    const decided = decide(list, {
      a: { health: "down" },
      x: { ejectedUntil: NOW + 50 },
      y: { ejectedUntil: NOW + 70 },
    });
    // No backup usable either: panic over the primaries.
    expect(decided.tier).toBe("primary");
    expect(usableNames(decided)).toEqual(["a"]);
    expect(decided.panic).toBe(true);
    expect(decided.validUntil).toBe(NOW + 50);
  });
});

describe("decideAvailability: tiers and panic", () => {
  const list = [backend("a"), backend("b"), backup("x"), backup("y")];

  it("uses only primaries while any primary is usable", () => {
    const decided = decide(list, { a: { health: "down" } });
    expect(decided.tier).toBe("primary");
    expect(usableNames(decided)).toEqual(["b"]);
  });

  it("uses the usable backups once no primary is usable", () => {
    const decided = decide(list, { a: { health: "down" }, b: { admin: "drained" }, y: { health: "down" } });
    expect(decided.tier).toBe("backup");
    expect(usableNames(decided)).toEqual(["x"]);
    expect(decided.panic).toBe(false);
  });

  it("with no usable backend at all, panics over the primaries that are not switched off", () => {
    const decided = decide(list, {
      a: { health: "down" },
      b: { health: "down" },
      x: { health: "down" },
      y: { admin: "disabled" },
    });
    expect(decided.tier).toBe("primary");
    expect(usableNames(decided)).toEqual(["a", "b"]);
    expect(decided.panic).toBe(true);
  });

  it("never panics onto drained or disabled backends", () => {
    const decided = decide(backends("a", "b"), { a: { admin: "drained" }, b: { admin: "disabled" } });
    expect(decided.usable).toEqual([]);
    expect(decided.panic).toBe(false);
  });

  it("panics below the threshold share of usable primaries, not at it", () => {
    const four = backends("a", "b", "c", "d");
    const oneDown = { a: { health: "down" as const } };
    const below = decide(four, oneDown, { panicThresholdPercent: 80 });
    expect(below.panic).toBe(true);
    expect(usableNames(below)).toEqual(["a", "b", "c", "d"]);
    const at = decide(four, oneDown, { panicThresholdPercent: 75 });
    expect(at.panic).toBe(false);
    expect(usableNames(at)).toEqual(["b", "c", "d"]);
    const drained = decide(four, { a: { health: "down" }, b: { admin: "drained" } }, { panicThresholdPercent: 80 });
    expect(usableNames(drained)).toEqual(["a", "c", "d"]);
  });
});

describe("decideAvailability: slow start", () => {
  const policy = { slowStartMs: 1_000 };

  it("gives a recovering backend elapsed / window of full weight, at least 5%", () => {
    const decided = decide(
      backends("a", "b", "c"),
      { a: { since: NOW - 250 }, b: { since: NOW - 10 }, c: { since: NOW - 1_000 } },
      policy,
    );
    expect(decided.rampShare).toEqual(
      new Map([
        ["a", 0.25],
        ["b", 0.05],
      ]),
    );
  });

  it("holds the answer for a tenth of the window (at least 50 ms), or until the ramp ends", () => {
    expect(decide(backends("a"), { a: { since: NOW - 250 } }, policy).validUntil).toBe(NOW + 100);
    expect(decide(backends("a"), { a: { since: NOW - 950 } }, policy).validUntil).toBe(NOW + 50);
    expect(decide(backends("a"), { a: { since: NOW - 100 } }, { slowStartMs: 300 }).validUntil).toBe(NOW + 50);
    expect(decide(backends("a"), { a: { since: NOW - 280 } }, { slowStartMs: 300 }).validUntil).toBe(NOW + 20);
  });

  it("starts a ramp dated in the future (an ejection still ending) at 5%", () => {
    const decided = decide(backends("a", "b"), { a: { since: NOW + 500 } }, policy);
    expect(decided.rampShare.get("a")).toBe(0.05);
    expect(decided.validUntil).toBe(NOW + 100);
  });

  it("ramps only usable backends, and nothing without a window", () => {
    expect(decide(backends("a", "b"), { a: { since: NOW - 250, health: "down" } }, policy).rampShare.size).toBe(0);
    const off = decide(backends("a"), { a: { since: NOW - 250 } });
    expect(off.rampShare.size).toBe(0);
    expect(off.validUntil).toBe(Infinity);
  });
});

describe("decideAvailability: weights set at run time", () => {
  it("effectiveWeight: the shared weight if set, else the configured one", () => {
    expect(effectiveWeight(backend("a", 2), undefined)).toBe(2);
    expect(effectiveWeight(backend("a", 2), { health: "down" })).toBe(2);
    expect(effectiveWeight(backend("a", 2), { weight: 7 })).toBe(7);
    expect(effectiveWeight(backend("a", 2), { weight: 0 })).toBe(0);
  });

  it("hands out the usable backends with their effective weights", () => {
    const decided = decide(backends(["a", 2], "b", "c"), { a: { weight: 5 }, b: { weight: 1 } });
    expect(decided.usable.map((b) => [b.name, b.weight])).toEqual([
      ["a", 5],
      ["b", 1],
      ["c", 1],
    ]);
  });

  it("leaves weight 0 out like a drained backend, in panic too, whatever its health", () => {
    const list = backends("a", "b", "c");
    expect(usableNames(decide(list, { b: { weight: 0 } }))).toEqual(["a", "c"]);
    const panic = decide(list, { a: { health: "down" }, b: { weight: 0 }, c: { health: "down" } });
    expect(panic.panic).toBe(true);
    expect(usableNames(panic)).toEqual(["a", "c"]);
    const none = decide(list, { a: { weight: 0 }, b: { weight: 0 }, c: { weight: 0 } });
    expect(none.usable).toEqual([]);
    expect(none.panic).toBe(false);
  });

  it("falls over to the backups when every primary has weight 0", () => {
    const decided = decide([backend("a"), backup("x")], { a: { weight: 0 } });
    expect(decided.tier).toBe("backup");
    expect(usableNames(decided)).toEqual(["x"]);
  });
});
