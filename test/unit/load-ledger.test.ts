import { describe, expect, it } from "vitest";
import type { LatencyEstimate } from "../../src/shared/backend.ts";
import { foldLatency } from "../../src/shared/latency.ts";
import { LoadLedger } from "../../src/state/load-ledger.ts";
import type { PoolSnapshot } from "../../src/state/types.ts";

function ledger() {
  let shared: PoolSnapshot = { takenAt: 0, backends: {} };
  let now = 1_000;
  const load = new LoadLedger(() => shared, { instance: "me", inflightTtlMs: 30_000, clock: () => now });
  return {
    load,
    share(backends: Record<string, { inflight: number; latency?: LatencyEstimate }>) {
      shared = { takenAt: now, backends };
    },
    tick(ms: number) {
      now += ms;
    },
    now: () => now,
  };
}

describe("LoadLedger in-flight view", () => {
  it("counts this instance's requests at once, before any report", () => {
    const { load } = ledger();
    load.begin("x");
    load.begin("x");
    load.begin("y");
    expect(load.view.inflight("x")).toBe(2);
    expect(load.view.inflight("y")).toBe(1);
    expect(load.view.inflight("z")).toBe(0);
    expect(load.inflightTotal).toBe(3);
  });

  it("merges the shared snapshot with the delta since this instance's last accepted report", () => {
    const { load, share } = ledger();
    const ends = [load.begin("x"), load.begin("x")];
    const report = load.takeReport();
    expect(report).toEqual({ instance: "me", inflight: { x: 2 }, latency: {}, ttlMs: 30_000 });
    load.accepted(report);
    // The store's sum holds this instance's 2 and 3 of others: 5 in all, not 7.
    share({ x: { inflight: 5 } });
    expect(load.view.inflight("x")).toBe(5);
    ends[0]!({});
    expect(load.view.inflight("x")).toBe(4);
    load.begin("x");
    load.begin("x");
    expect(load.view.inflight("x")).toBe(6);
  });

  it("counts nothing twice before the store has accepted a report", () => {
    const { load, share } = ledger();
    load.begin("x");
    const report = load.takeReport();
    load.rejected(report);
    // A snapshot that does not hold this instance's figures: the whole local count is added.
    share({ x: { inflight: 3 } });
    expect(load.view.inflight("x")).toBe(4);
  });

  it("never goes below this instance's own count when the snapshot is older than its report", () => {
    const { load, share } = ledger();
    load.begin("x");
    load.begin("x");
    load.accepted(load.takeReport());
    share({ x: { inflight: 1 } });
    expect(load.view.inflight("x")).toBe(2);
  });

  it("ends a request once however often its end is called", () => {
    const { load } = ledger();
    const end = load.begin("x");
    load.takeReport();
    expect(end({ latencyMs: 5 })).toBe(true);
    expect(load.dirty).toBe(true);
    load.takeReport();
    expect(end({ latencyMs: 5 })).toBe(false);
    expect(load.dirty).toBe(false);
    expect(load.inflightTotal).toBe(0);
    expect(load.view.inflight("x")).toBe(0);
  });

  it("is dirty from a change until a report is taken, and again when the store rejects it", () => {
    const { load } = ledger();
    expect(load.dirty).toBe(false);
    load.begin("x");
    expect(load.dirty).toBe(true);
    const report = load.takeReport();
    expect(load.dirty).toBe(false);
    load.rejected(report);
    expect(load.dirty).toBe(true);
  });
});

describe("LoadLedger latency", () => {
  it("reports the samples since the last report, once", () => {
    const { load } = ledger();
    load.begin("x")({ latencyMs: 10 });
    load.begin("x")({ latencyMs: 20 });
    load.begin("y")({});
    const first = load.takeReport();
    expect(first.latency).toEqual({ x: { count: 2, meanMs: 15 } });
    load.accepted(first);
    expect(load.takeReport().latency).toEqual({});
  });

  it("keeps the samples of a report the store never got for the next one", () => {
    const { load } = ledger();
    load.begin("x")({ latencyMs: 10 });
    load.begin("x")({ latencyMs: 20 });
    load.rejected(load.takeReport());
    load.begin("x")({ latencyMs: 30 });
    load.begin("y")({ latencyMs: 7 });
    const next = load.takeReport();
    expect(next.latency.x).toEqual({ count: 3, meanMs: 20 });
    expect(next.latency.y).toEqual({ count: 1, meanMs: 7 });
  });

  it("folds each response into the local estimate and prefers the newer of local and shared", () => {
    const { load, share, tick, now } = ledger();
    load.begin("x")({ latencyMs: 40 });
    expect(load.view.latency("x")).toEqual({ ewmaMs: 40, updatedAt: now() });
    tick(500);
    load.begin("x")({ latencyMs: 10 });
    const local = foldLatency({ ewmaMs: 40, updatedAt: now() - 500 }, 10, now());
    expect(load.view.latency("x")).toEqual(local);
    share({ x: { inflight: 0, latency: { ewmaMs: 99, updatedAt: now() - 1 } } });
    expect(load.view.latency("x")).toEqual(local);
    share({ x: { inflight: 0, latency: { ewmaMs: 99, updatedAt: now() + 1 } } });
    expect(load.view.latency("x")).toEqual({ ewmaMs: 99, updatedAt: now() + 1 });
    // Measured nowhere but the store: the shared estimate.
    share({ y: { inflight: 0, latency: { ewmaMs: 3, updatedAt: 1 } } });
    expect(load.view.latency("y")).toEqual({ ewmaMs: 3, updatedAt: 1 });
    expect(load.view.latency("z")).toBeUndefined();
  });
});
