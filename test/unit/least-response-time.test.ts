import { describe, expect, it } from "vitest";
import {
  buildLeastResponseTime,
  DECAY_MS,
  decayedLatency,
  responseTimeScore,
} from "../../src/balancer/least-response-time.ts";
import { foldLatency, TAU_MS } from "../../src/shared/latency.ts";
import { mulberry32 } from "../support/prng.ts";
import { backend, backends, first, input, loadView, names } from "./fixtures.ts";

const T0 = 1_700_000_000_000;

describe("foldLatency (peak EWMA)", () => {
  it("starts from the first sample", () => {
    expect(foldLatency(undefined, 42, T0)).toEqual({ ewmaMs: 42, updatedAt: T0 });
  });

  it("jumps straight to a peak", () => {
    expect(foldLatency({ ewmaMs: 10, updatedAt: T0 }, 500, T0 + 1)).toEqual({
      ewmaMs: 500,
      updatedAt: T0 + 1,
    });
  });

  it("comes down gradually, weighting the old value by exp(-elapsed / TAU_MS)", () => {
    const peak = { ewmaMs: 500, updatedAt: T0 };
    const after = foldLatency(peak, 10, T0 + TAU_MS);
    expect(after.ewmaMs).toBeCloseTo(500 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 9);
    expect(after.updatedAt).toBe(T0 + TAU_MS);
    // A sample in the same millisecond barely moves it; one after a long quiet nearly replaces it.
    expect(foldLatency(peak, 10, T0).ewmaMs).toBe(500);
    expect(foldLatency(peak, 10, T0 + 20 * TAU_MS).ewmaMs).toBeCloseTo(10, 4);
  });

  it("decays across repeated fast samples toward the fast value", () => {
    let estimate = foldLatency(undefined, 800, T0);
    for (let i = 1; i <= 50; i++) estimate = foldLatency(estimate, 20, T0 + i * 1_000);
    expect(estimate.ewmaMs).toBeLessThan(20 + 780 * Math.exp(-5) + 1e-9);
    expect(estimate.ewmaMs).toBeGreaterThan(20);
  });

  it("clamps negative samples to 0 and rejects non-finite ones", () => {
    expect(foldLatency(undefined, -3, T0).ewmaMs).toBe(0);
    expect(() => foldLatency(undefined, Number.NaN, T0)).toThrow(RangeError);
    expect(() => foldLatency(undefined, Infinity, T0)).toThrow(RangeError);
  });
});

describe("decayedLatency", () => {
  it("fades by e every DECAY_MS and never grows for a future timestamp", () => {
    const estimate = { ewmaMs: 100, updatedAt: T0 };
    expect(decayedLatency(estimate, T0)).toBe(100);
    expect(decayedLatency(estimate, T0 + DECAY_MS)).toBeCloseTo(100 / Math.E, 9);
    expect(decayedLatency(estimate, T0 - 5_000)).toBe(100);
  });
});

describe("least response time", () => {
  const fastSlow = buildLeastResponseTime(backends("slow", "fast"));

  it("prefers the fast backend at equal in-flight", () => {
    const load = loadView(
      { slow: 2, fast: 2 },
      { slow: { ewmaMs: 200, updatedAt: T0 }, fast: { ewmaMs: 10, updatedAt: T0 } },
    );
    expect(names(fastSlow, input({ load, now: T0 }))).toEqual(["fast", "slow"]);
  });

  it("weighs latency by queue depth: a swamped fast backend loses to an idle slow one", () => {
    const load = loadView(
      { slow: 0, fast: 30 },
      { slow: { ewmaMs: 200, updatedAt: T0 }, fast: { ewmaMs: 10, updatedAt: T0 } },
    );
    expect(first(fastSlow, input({ load, now: T0 }))).toBe("slow");
  });

  it("tries a recovered slow backend again once its estimate has decayed", () => {
    // The fast backend keeps being sampled (fresh estimate); the slow one stopped getting traffic.
    const loadAt = (now: number) =>
      loadView({}, { slow: { ewmaMs: 200, updatedAt: T0 }, fast: { ewmaMs: 10, updatedAt: now } });
    // 200 x exp(-t / DECAY_MS) drops below 10 at t = DECAY_MS x ln 20.
    const crossover = DECAY_MS * Math.log(20);
    let now = T0;
    while (first(fastSlow, input({ load: loadAt(now), now })) === "fast") now += 500;
    expect(now - T0).toBeGreaterThan(crossover - 500);
    expect(now - T0).toBeLessThanOrEqual(crossover + 500);
    expect(decayedLatency({ ewmaMs: 200, updatedAt: T0 }, now)).toBeLessThan(10);
    expect(first(fastSlow, input({ load: loadAt(T0 + 10_000), now: T0 + 10_000 }))).toBe("fast");
  });

  it("tries a never-measured backend first", () => {
    const selector = buildLeastResponseTime(backends("known", "new"));
    const load = loadView({}, { known: { ewmaMs: 1, updatedAt: T0 } });
    expect(names(selector, input({ load, now: T0 }))).toEqual(["new", "known"]);
  });

  it("divides by weight and breaks ties by list order", () => {
    const heavy = backend("heavy", 4);
    const load = loadView({}, { light: { ewmaMs: 30, updatedAt: T0 }, heavy: { ewmaMs: 100, updatedAt: T0 } });
    expect(responseTimeScore(heavy, load, T0)).toBe(25);
    const selector = buildLeastResponseTime([backend("light"), heavy]);
    expect(names(selector, input({ load, now: T0 }))).toEqual(["heavy", "light"]);
    const unmeasured = buildLeastResponseTime(backends("x", "y", "z"));
    expect(names(unmeasured, input({ now: T0 }))).toEqual(["x", "y", "z"]);
  });

  it("yields the better of a sampled pair, its partner, then the rest by ascending score", () => {
    const list = backends("a", "b", "c", "d");
    const load = loadView(
      {},
      {
        a: { ewmaMs: Number.NaN, updatedAt: T0 },
        b: { ewmaMs: 50, updatedAt: T0 },
        c: { ewmaMs: 5, updatedAt: T0 },
        d: { ewmaMs: 20, updatedAt: T0 },
      },
    );
    // Draws 0.1 then 0.1: the pair is (a, b); a corrupt estimate ranks last and loses its pair.
    const pairAB = () => 0.1;
    expect(names(buildLeastResponseTime(list), input({ load, now: T0, random: pairAB }))).toEqual(["b", "a", "c", "d"]);
  });

  it("never picks the slowest first, and picks the fastest whenever it is sampled", () => {
    const list = backends("v1", "v2", "v3", "v4", "v5");
    const load = loadView(
      {},
      Object.fromEntries(list.map((b, i) => [b.name, { ewmaMs: 10 * (i + 1), updatedAt: T0 }])),
    );
    const selector = buildLeastResponseTime(list);
    const random = mulberry32(3);
    const firsts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const name = first(selector, input({ load, now: T0, random }))!;
      firsts[name] = (firsts[name] ?? 0) + 1;
    }
    expect(firsts.v5).toBeUndefined();
    // v1 is in 2 of 5 pairs and wins each: 40% of picks (binomial sd 0.5%).
    expect(Math.abs(firsts.v1! / 10_000 - 0.4)).toBeLessThan(0.03);
    expect(firsts.v1! > firsts.v2! && firsts.v2! > firsts.v3! && firsts.v3! > firsts.v4!).toBe(true);
  });
});
