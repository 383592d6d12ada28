import { describe, expect, it } from "vitest";
import { buildLeastConnections, sampleTwo } from "../../src/balancer/least-connections.ts";
import type { LoadView } from "../../src/shared/backend.ts";
import { intBetween, mulberry32 } from "../support/prng.ts";
import { backends, first, input, loadView, names, numbered, tally } from "./fixtures.ts";

describe("sampleTwo", () => {
  it("draws two distinct indices, uniform over ordered pairs", () => {
    const random = mulberry32(3);
    const pairs = tally(Array.from({ length: 60_000 }, () => sampleTwo(4, random).join("")));
    // 12 = 4 x 3 ordered pairs of distinct indices; a repeated index would add "00", "11", ...
    expect([...pairs.keys()].every(([a, b]) => a !== b)).toBe(true);
    expect(pairs.size).toBe(12);
    for (const count of pairs.values()) expect(Math.abs(count / 5_000 - 1)).toBeLessThan(0.06);
  });

  it("stays in range when random() returns its extremes", () => {
    expect(sampleTwo(3, () => 0)).toEqual([0, 1]);
    const almostOne = 1 - Number.EPSILON;
    expect(sampleTwo(3, () => almostOne)).toEqual([2, 1]);
    expect(sampleTwo(3, () => 1)).toEqual([2, 1]);
  });
});

describe("least connections (power of two choices)", () => {
  it("never picks the busier of the two sampled backends", () => {
    const random = mulberry32(42);
    for (let trial = 0; trial < 5_000; trial++) {
      const list = numbered(intBetween(random, 2, 9), () => intBetween(random, 1, 4));
      const inflight = Object.fromEntries(list.map((b) => [b.name, intBetween(random, 0, 30)]));
      const seed = intBetween(random, 0, 2 ** 31);
      const order = names(buildLeastConnections(list), input({ load: loadView(inflight), random: mulberry32(seed) }));
      // Replaying the same draws shows which two were sampled.
      const [x, y] = sampleTwo(list.length, mulberry32(seed));
      const loadOf = (name: string) => inflight[name]! / list.find((b) => b.name === name)!.weight;
      expect([list[x]!.name, list[y]!.name].sort()).toEqual(order.slice(0, 2).sort());
      expect(loadOf(order[0]!)).toBeLessThanOrEqual(loadOf(order[1]!));
    }
  });

  it("with one backend at 20 in flight and two idle, never puts the busy one first", () => {
    const selector = buildLeastConnections(backends("busy", "idle1", "idle2"));
    const random = mulberry32(1);
    const load = loadView({ busy: 20 });
    const picks = tally(Array.from({ length: 1000 }, () => first(selector, input({ load, random }))));
    expect(picks.get("busy")).toBeUndefined();
    // Both idle ones share the traffic (ties go to a random one, not always the same).
    expect(picks.get("idle1")!).toBeGreaterThan(400);
    expect(picks.get("idle2")!).toBeGreaterThan(400);
  });

  it("breaks ties randomly, so equal loads spread evenly", () => {
    const selector = buildLeastConnections(numbered(3));
    const random = mulberry32(9);
    const picks = tally(Array.from({ length: 3000 }, () => first(selector, input({ random }))));
    for (const count of picks.values()) expect(Math.abs(count / 1000 - 1)).toBeLessThan(0.1);
  });

  it("compares in-flight per unit of weight", () => {
    // big: 4 in flight at weight 4 (1 each); small: 2 in flight at weight 1 (2 each).
    const selector = buildLeastConnections(backends(["big", 4], ["small", 1]));
    const load = loadView({ big: 4, small: 2 });
    const random = mulberry32(5);
    for (let i = 0; i < 100; i++) {
      expect(names(selector, input({ load, random }))).toEqual(["big", "small"]);
    }
  });

  it("treats a negative in-flight figure as idle, not as idler than idle", () => {
    const selector = buildLeastConnections(backends("a", "b"));
    const load = loadView({ a: -5, b: 0 });
    // Draws (0, then 0 of the remaining one) sample a then b; tie, so the first draw (a) wins.
    expect(names(selector, input({ load, random: () => 0 }))).toEqual(["a", "b"]);
    // Draws sample b then a; tie at 0, so b wins: a's -5 did not make it preferred.
    expect(names(selector, input({ load, random: () => 0.99 }))).toEqual(["b", "a"]);
  });

  it("orders the rest by load, ascending and stable by index", () => {
    const list = numbered(6);
    const inflight: Record<string, number> = { b0: 9, b1: 3, b2: 7, b3: 3, b4: 0, b5: 8 };
    const random = mulberry32(77);
    for (let i = 0; i < 200; i++) {
      const order = names(buildLeastConnections(list), input({ load: loadView(inflight), random }));
      const rest = order.slice(2);
      const expected = list
        .map((b) => b.name)
        .filter((name) => !order.slice(0, 2).includes(name))
        .sort((x, y) => inflight[x]! - inflight[y]! || x.localeCompare(y));
      expect(rest).toEqual(expected);
    }
  });

  it("reads only the two sampled loads unless a third candidate is asked for", () => {
    let reads = 0;
    const load: LoadView = {
      inflight: () => {
        reads++;
        return 1;
      },
      latency: () => undefined,
    };
    const selector = buildLeastConnections(numbered(1000));
    const iterator = selector.candidates(input({ load, random: mulberry32(1) }))[Symbol.iterator]();
    iterator.next();
    iterator.next();
    expect(reads).toBe(2);
    iterator.next();
    expect(reads).toBe(2 + 998);
  });

  it("yields a single backend without drawing, and nothing for an empty set", () => {
    const random = () => {
      throw new Error("random used");
    };
    expect(names(buildLeastConnections(backends("solo")), input({ random }))).toEqual(["solo"]);
    expect(names(buildLeastConnections([]), input({ random }))).toEqual([]);
  });
});
