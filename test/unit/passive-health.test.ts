import { describe, expect, it } from "vitest";
import type { OutlierPolicy } from "../../src/health/outlier.ts";
import { PassiveHealth, type SharedRecords } from "../../src/health/passive-health.ts";
import type { Defer } from "../../src/shared/defer.ts";
import type { BackendPatch, PoolSnapshot } from "../../src/state/types.ts";
import { backend } from "./fixtures.ts";

const NOW = 1_700_000_000_000;
const POLICY: OutlierPolicy = {
  consecutiveFailures: 2,
  baseEjectionMs: 1_000,
  maxEjectionMs: 10_000,
  failureOn5xx: false,
};
const defer: Defer = () => undefined;

/** A pool state that applies what is published to its own snapshot, as PoolState does locally. */
class FakeRecords implements SharedRecords {
  readonly published: { backend: string; patch: BackendPatch }[] = [];
  snapshot: PoolSnapshot;

  constructor(records: Record<string, BackendPatch> = {}) {
    const entries = Object.entries(records).map(([name, record]) => [name, { ...record, inflight: 0 }]);
    this.snapshot = { takenAt: NOW, backends: Object.fromEntries(entries) };
  }

  publish(name: string, patch: BackendPatch): void {
    this.published.push({ backend: name, patch });
    const previous = this.snapshot.backends[name];
    this.snapshot = {
      ...this.snapshot,
      backends: { ...this.snapshot.backends, [name]: { ...previous, ...patch, inflight: 0 } },
    };
  }
}

function setUp(records: Record<string, BackendPatch> = {}, policy: Partial<OutlierPolicy> = {}) {
  const state = new FakeRecords(records);
  const lines: string[] = [];
  const passive = new PassiveHealth(
    { ...POLICY, ...policy },
    state,
    (line) => lines.push(line),
    () => NOW,
  );
  return { state, lines, passive };
}

const a = backend("a");

describe("PassiveHealth.failsOn", () => {
  it("counts 502, 503 and 504 always, other 5xx only when configured", () => {
    const { passive } = setUp();
    expect([502, 503, 504].map((status) => passive.failsOn(status))).toEqual([true, true, true]);
    expect([500, 501, 505, 404, 200].map((status) => passive.failsOn(status))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    const strict = setUp({}, { failureOn5xx: true }).passive;
    expect([500, 501, 599, 499].map((status) => strict.failsOn(status))).toEqual([true, true, true, false]);
  });
});

describe("PassiveHealth.record", () => {
  it("ejects after the streak, for the base time, and logs why", () => {
    const { state, lines, passive } = setUp();
    passive.record(a, "ECONNREFUSED", defer);
    expect(state.published).toEqual([]);
    passive.record(a, "timeout", defer);
    const reason = "ejected for 1000 ms after 2 consecutive failures: timeout";
    expect(state.published).toEqual([
      { backend: "a", patch: { ejectedUntil: NOW + 1_000, ejections: 1, since: NOW + 1_000, reason } },
    ]);
    expect(lines).toEqual([`http://a.test:80 [down] (${reason})`]);
  });

  it("ejects a backend ejected before for longer", () => {
    const { state, passive } = setUp({ a: { ejections: 2, ejectedUntil: NOW - 1 } });
    passive.record(a, "status 502", defer);
    passive.record(a, "status 502", defer);
    expect(state.published.at(-1)?.patch).toMatchObject({ ejectedUntil: NOW + 3_000, ejections: 3 });
  });

  it("a success between failures breaks the streak", () => {
    const { state, passive } = setUp();
    passive.record(a, "timeout", defer);
    passive.record(a, undefined, defer);
    passive.record(a, "timeout", defer);
    expect(state.published).toEqual([]);
  });

  it("a success after the ejection ended resets the multiplier", () => {
    const { state, passive } = setUp({ a: { ejections: 3, ejectedUntil: NOW } });
    passive.record(a, undefined, defer);
    expect(state.published).toEqual([{ backend: "a", patch: { ejections: 0 } }]);
  });

  it("a success while still ejected, or never ejected, publishes nothing", () => {
    const ejected = setUp({ a: { ejections: 1, ejectedUntil: NOW + 1 } });
    ejected.passive.record(a, undefined, defer);
    expect(ejected.state.published).toEqual([]);
    const fresh = setUp();
    fresh.passive.record(a, undefined, defer);
    expect(fresh.state.published).toEqual([]);
  });

  it("ejects nothing with consecutive failures at 0", () => {
    const { state, passive } = setUp({}, { consecutiveFailures: 0 });
    for (let i = 0; i < 10; i++) passive.record(a, "timeout", defer);
    expect(state.published).toEqual([]);
  });
});
