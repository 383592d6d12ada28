import { describe, expect, it } from "vitest";
import { buildRoundRobin, positionOf } from "../../src/balancer/round-robin.ts";
import { backends, first, input, names } from "./fixtures.ts";

describe("round robin", () => {
  const selector = buildRoundRobin(backends("a", "b", "c"));

  it("cycles exactly a,b,c,a,b,c... for seq 0..", () => {
    const picks = Array.from({ length: 9 }, (_, seq) => first(selector, input({ seq })));
    expect(picks).toEqual(["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
  });

  it("falls back to the following positions, wrapping around", () => {
    expect(names(selector, input({ seq: 0 }))).toEqual(["a", "b", "c"]);
    expect(names(selector, input({ seq: 4 }))).toEqual(["b", "c", "a"]);
    expect(names(selector, input({ seq: 5 }))).toEqual(["c", "a", "b"]);
  });

  it("keeps huge and negative sequence numbers in range", () => {
    expect(first(selector, input({ seq: Number.MAX_SAFE_INTEGER }))).toBe("b"); // 2^53-1 = 1 mod 3
    expect(first(selector, input({ seq: -1 }))).toBe("c");
    expect(positionOf(-3, 3)).toBe(0);
    expect(() => first(selector, input({ seq: Number.NaN }))).toThrow(RangeError);
  });

  it("yields nothing for an empty set and the one backend for a singleton", () => {
    expect(names(buildRoundRobin([]), input({ seq: 5 }))).toEqual([]);
    expect(names(buildRoundRobin(backends("solo")), input({ seq: 5 }))).toEqual(["solo"]);
  });

  it("ignores weights, load and randomness", () => {
    const weighted = buildRoundRobin(backends(["a", 9], "b"));
    const touchy = input({
      seq: 1,
      random: () => {
        throw new Error("random used");
      },
    });
    expect(names(weighted, touchy)).toEqual(["b", "a"]);
  });
});
