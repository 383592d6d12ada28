import { describe, expect, it } from "vitest";
import { CandidateWalk } from "../../src/balancer/candidate-walk.ts";
import { buildRoundRobin } from "../../src/balancer/round-robin.ts";
import type { Selector } from "../../src/balancer/types.ts";
import { backends, input } from "./fixtures.ts";

const abc = buildRoundRobin(backends("a", "b", "c"));
const NONE = new Set<string>();

/** Hands out the walk's answers until it runs dry. */
function drain(walk: CandidateWalk): string[] {
  const out: string[] = [];
  for (let backend = walk.next(); backend; backend = walk.next()) out.push(backend.name);
  return out;
}

/** A random() that returns the given values in turn, and fails the test if asked for more. */
function draws(...values: number[]): () => number {
  return () => {
    const value = values.shift();
    if (value === undefined) throw new Error("random drawn more often than expected");
    return value;
  };
}

describe("CandidateWalk", () => {
  it("hands out the candidates in order, skipping the unavailable", () => {
    expect(drain(new CandidateWalk(abc, input({ seq: 1 }), { unavailable: NONE }))).toEqual(["b", "c", "a"]);
    expect(drain(new CandidateWalk(abc, input({ seq: 1 }), { unavailable: new Set(["c"]) }))).toEqual(["b", "a"]);
  });

  it("never hands out a backend twice, even from a selector that repeats one", () => {
    const repeating: Selector = { candidates: () => backends("a", "a", "b", "a") };
    const walk = new CandidateWalk(repeating, input(), { unavailable: NONE });
    expect(drain(walk)).toEqual(["a", "b"]);
    expect(walk.tried).toEqual(new Set(["a", "b"]));
  });

  it("takes a ramping backend when the draw falls within its share", () => {
    const walk = new CandidateWalk(abc, input({ random: draws(0.29) }), {
      unavailable: NONE,
      rampShare: new Map([["a", 0.3]]),
    });
    expect(walk.next()?.name).toBe("a");
  });

  it("passes a ramping backend over when the draw is at or above its share", () => {
    const walk = new CandidateWalk(abc, input({ random: draws(0.3) }), {
      unavailable: NONE,
      rampShare: new Map([["a", 0.3]]),
    });
    expect(walk.next()?.name).toBe("b");
    expect(walk.tried).toEqual(new Set(["b"]));
  });

  it("falls back to the first ramping backend passed over when nothing else is left", () => {
    const ramp = new Map([
      ["a", 0.1],
      ["b", 0.1],
      ["c", 0.1],
    ]);
    const walk = new CandidateWalk(abc, input({ random: draws(0.5, 0.5, 0.5) }), {
      unavailable: NONE,
      rampShare: ramp,
    });
    expect(walk.next()?.name).toBe("a");
    expect(walk.next()).toBeUndefined();
  });

  it("draws nothing for backends that are not ramping", () => {
    const walk = new CandidateWalk(abc, input({ random: draws() }), { unavailable: NONE, rampShare: new Map() });
    expect(drain(walk)).toEqual(["a", "b", "c"]);
  });
});
