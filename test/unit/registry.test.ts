import { describe, expect, it } from "vitest";
import { CandidateWalk } from "../../src/balancer/candidate-walk.ts";
import { ALGORITHM_NAMES, type Algorithm, buildSelector } from "../../src/balancer/registry.ts";
import type { SelectionInput } from "../../src/balancer/types.ts";
import type { LatencyEstimate, LoadView } from "../../src/shared/backend.ts";
import { intBetween, mulberry32 } from "../support/prng.ts";
import { backends, first, input, loadView, names, numbered, randomIPv4 } from "./fixtures.ts";

const T0 = 1_700_000_000_000;

/** A random but reproducible selection input over backends b0..b{n-1}. */
function randomInput(random: () => number, n: number): SelectionInput {
  const inflight: Record<string, number> = {};
  const latency: Record<string, LatencyEstimate> = {};
  for (let i = 0; i < n; i++) {
    inflight[`b${i}`] = intBetween(random, 0, 5);
    // Some backends stay unmeasured, as new ones are.
    if (random() < 0.8) {
      const ewmaMs = intBetween(random, 1, 300);
      latency[`b${i}`] = { ewmaMs, updatedAt: T0 - intBetween(random, 0, 60_000) };
    }
  }
  return input({
    seq: intBetween(random, 0, 1_000_000),
    key: randomIPv4(random),
    load: loadView(inflight, latency),
    random: mulberry32(intBetween(random, 0, 2 ** 31)),
    now: T0,
  });
}

describe("buildSelector", () => {
  it("builds the algorithm it is asked for", () => {
    const list = backends(["a", 5], "b", "c");
    expect(first(buildSelector("round-robin", list), input({ seq: 1 }))).toBe("b");
    expect(first(buildSelector("weighted-round-robin", list), input({ seq: 1 }))).toBe("a");
    const hash = buildSelector("ip-hash", list);
    const owner = first(hash, input({ key: "198.51.100.1", seq: 0 }));
    expect(first(hash, input({ key: "198.51.100.1", seq: 1 }))).toBe(owner);
    const fresh = (ewmaMs: number): LatencyEstimate => ({ ewmaMs, updatedAt: T0 });
    const load = loadView({ a: 9, b: 9, c: 0 }, { a: fresh(1), b: fresh(100), c: fresh(100) });
    const lrt = buildSelector("least-response-time", list);
    expect(first(lrt, input({ load, now: T0 }))).toBe("a");
    const lc = buildSelector("least-connections", backends("a", "c"));
    expect(first(lc, input({ load }))).toBe("c");
  });

  it("rejects an unknown algorithm at run time (config typo that escaped validation)", () => {
    expect(() => buildSelector("no-such-algorithm" as Algorithm, backends("a"))).toThrow(/unknown algorithm/);
  });

  it.each(ALGORITHM_NAMES)("%s rejects duplicate names and non-positive weights", (algorithm) => {
    expect(() => buildSelector(algorithm, backends("a", "a"))).toThrow(/duplicate/);
    expect(() => buildSelector(algorithm, backends(["a", 0]))).toThrow(/weight/);
    expect(() => buildSelector(algorithm, backends(["a", Number.NaN]))).toThrow(/weight/);
  });
});

describe.each(ALGORITHM_NAMES)("%s", (algorithm) => {
  it("yields every backend exactly once, for any input", () => {
    const random = mulberry32(algorithm.length * 7919);
    for (let trial = 0; trial < 300; trial++) {
      const n = intBetween(random, 0, 12);
      const list = numbered(n, () => intBetween(random, 1, 5));
      const yielded = names(buildSelector(algorithm, list), randomInput(random, n));
      expect(yielded).toHaveLength(n);
      expect(new Set(yielded)).toEqual(new Set(list.map((b) => b.name)));
    }
  });

  it("the walk skips unavailable backends and returns the first candidate that is not", () => {
    const random = mulberry32(algorithm.length * 104729);
    for (let trial = 0; trial < 300; trial++) {
      const n = intBetween(random, 1, 10);
      const list = numbered(n, () => intBetween(random, 1, 5));
      const selector = buildSelector(algorithm, list);
      const excluded = new Set(list.filter(() => random() < 0.5).map((b) => b.name));
      // Both walks must see the same draws, so give each its own copy of the generator.
      const seed = intBetween(random, 0, 2 ** 31);
      const base = randomInput(random, n);
      const chosen = new CandidateWalk(
        selector,
        { ...base, random: mulberry32(seed) },
        { unavailable: excluded },
      ).next();
      const expected = names(selector, { ...base, random: mulberry32(seed) }).find((name) => !excluded.has(name));
      expect(chosen?.name).toBe(expected);
      if (excluded.size < n) expect(excluded.has(chosen!.name)).toBe(false);
      else expect(chosen).toBeUndefined();
    }
  });

  it("the walk moves on to the second candidate when the first is unavailable", () => {
    const list = numbered(5);
    const selector = buildSelector(algorithm, list);
    const selection = () => input({ seq: 3, key: "192.0.2.10", random: mulberry32(8), now: T0 });
    const [one, two] = names(selector, selection());
    expect(new CandidateWalk(selector, selection(), { unavailable: new Set() }).next()?.name).toBe(one);
    expect(new CandidateWalk(selector, selection(), { unavailable: new Set([one!]) }).next()?.name).toBe(two);
  });

  it("the walk returns undefined when everything is unavailable or nothing is configured", () => {
    const list = numbered(4);
    const all = new Set(list.map((b) => b.name));
    expect(new CandidateWalk(buildSelector(algorithm, list), input(), { unavailable: all }).next()).toBeUndefined();
    expect(new CandidateWalk(buildSelector(algorithm, []), input(), { unavailable: new Set() }).next()).toBeUndefined();
  });
});

describe("cost of the first candidate", () => {
  /** A load view that counts reads, to tell O(1) from O(n) without timing anything. */
  function countingLoad(): { load: LoadView; reads: () => number } {
    let reads = 0;
    return {
      load: {
        inflight: () => {
          reads++;
          return 0;
        },
        latency: () => {
          reads++;
          return undefined;
        },
      },
      reads: () => reads,
    };
  }

  it.each(["round-robin", "weighted-round-robin", "ip-hash"] as const)(
    "%s reads no load and draws no randomness",
    (algorithm) => {
      const { load, reads } = countingLoad();
      const random = () => {
        throw new Error("random used");
      };
      const selector = buildSelector(algorithm, numbered(2000));
      expect(first(selector, input({ load, random, seq: 17 }))).toBeDefined();
      expect(reads()).toBe(0);
    },
  );

  it("least-connections reads two loads whatever the backend count", () => {
    for (const n of [3, 3000]) {
      const { load, reads } = countingLoad();
      const selector = buildSelector("least-connections", numbered(n));
      first(selector, input({ load, random: mulberry32(n) }));
      expect(reads()).toBe(2);
    }
  });

  it("least-response-time reads two backends' latency and in-flight count whatever the backend count", () => {
    for (const n of [3, 3000]) {
      const { load, reads } = countingLoad();
      first(buildSelector("least-response-time", numbered(n)), input({ load, random: mulberry32(n) }));
      expect(reads()).toBe(4);
    }
  });
});
