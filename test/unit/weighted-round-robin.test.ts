import { describe, expect, it } from "vitest";
import {
  buildWeightedRoundRobin,
  MAX_SCHEDULE_LENGTH,
  smoothSchedule,
} from "../../src/balancer/weighted-round-robin.ts";
import { intBetween, mulberry32 } from "../support/prng.ts";
import { backends, first, input, names, tally } from "./fixtures.ts";

describe("weighted round robin (smooth, nginx)", () => {
  const selector = buildWeightedRoundRobin(backends(["a", 5], ["b", 1], ["c", 1]));

  it("weights 5,1,1 give the smooth order a,a,b,a,c,a,a", () => {
    const picks = Array.from({ length: 14 }, (_, seq) => first(selector, input({ seq })));
    expect(picks).toEqual("aabacaaaabacaa".split(""));
  });

  it("gives exactly 5000/1000/1000 over seq 0..6999", () => {
    const counts = tally(Array.from({ length: 7000 }, (_, seq) => first(selector, input({ seq }))));
    expect(Object.fromEntries(counts)).toEqual({ a: 5000, b: 1000, c: 1000 });
  });

  it("reduces weights by their gcd, so 10,2,2 is the same 7-long schedule as 5,1,1", () => {
    expect([...smoothSchedule([10, 2, 2])]).toEqual([0, 0, 1, 0, 2, 0, 0]);
    expect(smoothSchedule([300, 300]).length).toBe(2);
  });

  it("gives each backend its reduced weight, within 1 of its share in any prefix", () => {
    // The prefix bound is what "smooth" means: a burst (a,a,a,a,a,b,c for 5,1,1) puts a 1.43
    // ahead of its share after five picks.
    const random = mulberry32(11);
    let worst = 0;
    for (let trial = 0; trial < 500; trial++) {
      const weights = Array.from({ length: intBetween(random, 1, 8) }, () => intBetween(random, 1, 20));
      const schedule = smoothSchedule(weights);
      const divisor = weights.reduce((s, w) => s + w, 0) / schedule.length;
      const reduced = weights.map((w) => w / divisor);
      expect(Object.fromEntries(tally(schedule))).toEqual(Object.fromEntries(reduced.entries()));

      const counts = reduced.map(() => 0);
      schedule.forEach((index, k) => {
        counts[index]!++;
        reduced.forEach((w, i) => {
          worst = Math.max(worst, Math.abs(counts[i]! - ((k + 1) * w) / schedule.length));
        });
      });
    }
    expect(worst).toBeLessThanOrEqual(1 + 1e-9);
  });

  it("falls back along the schedule: after b at seq 2 come a (seq 3) and c (seq 4)", () => {
    expect(names(selector, input({ seq: 2 }))).toEqual(["b", "a", "c"]);
    expect(names(selector, input({ seq: 0 }))).toEqual(["a", "b", "c"]);
  });

  it("still covers a rarely scheduled backend when the schedule is skewed", () => {
    const skewed = buildWeightedRoundRobin(backends(["heavy", 1000], ["light", 1], ["mid", 10]));
    for (const seq of [0, 1, 500, 1010]) {
      expect(names(skewed, input({ seq })).sort()).toEqual(["heavy", "light", "mid"]);
    }
  });

  it("rejects weights it cannot schedule exactly", () => {
    expect(() => buildWeightedRoundRobin(backends(["a", 0]))).toThrow(/positive integer/);
    expect(() => buildWeightedRoundRobin(backends(["a", 1.5]))).toThrow(/positive integer/);
    expect(() => buildWeightedRoundRobin(backends(["a", MAX_SCHEDULE_LENGTH], ["b", 1]))).toThrow(/exceeds/);
  });
});
