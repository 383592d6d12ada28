import { describe, expect, it } from "vitest";
import { ejectionDuration, FailureStreaks, type OutlierPolicy } from "../../src/health/outlier.ts";

const POLICY: OutlierPolicy = {
  consecutiveFailures: 3,
  baseEjectionMs: 1_000,
  maxEjectionMs: 5_000,
  failureOn5xx: false,
};

describe("ejectionDuration", () => {
  it("is the base time times the times ejected, capped", () => {
    expect(ejectionDuration(POLICY, 1)).toBe(1_000);
    expect(ejectionDuration(POLICY, 3)).toBe(3_000);
    expect(ejectionDuration(POLICY, 5)).toBe(5_000);
    expect(ejectionDuration(POLICY, 50)).toBe(5_000);
  });

  it("never goes below the base time", () => {
    expect(ejectionDuration(POLICY, 0)).toBe(1_000);
    expect(ejectionDuration(POLICY, -2)).toBe(1_000);
  });
});

describe("FailureStreaks", () => {
  it("reports an ejection on the failure that completes the streak, then starts over", () => {
    const streaks = new FailureStreaks(POLICY);
    expect([true, true, true, true, true, true].map((failed) => streaks.record("a", failed))).toEqual([
      false,
      false,
      true,
      false,
      false,
      true,
    ]);
  });

  it("starts over after a success", () => {
    const streaks = new FailureStreaks(POLICY);
    expect([true, true, false, true, true].map((failed) => streaks.record("a", failed))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(streaks.record("a", true)).toBe(true);
  });

  it("keeps a separate streak per backend", () => {
    const streaks = new FailureStreaks(POLICY);
    streaks.record("a", true);
    streaks.record("a", true);
    expect(streaks.record("b", true)).toBe(false);
    expect(streaks.record("a", true)).toBe(true);
  });

  it("never ejects when the threshold is 0", () => {
    const streaks = new FailureStreaks({ ...POLICY, consecutiveFailures: 0 });
    expect(Array.from({ length: 50 }, () => streaks.record("a", true)).some(Boolean)).toBe(false);
  });
});
