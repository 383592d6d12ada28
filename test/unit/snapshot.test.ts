import { describe, expect, it } from "vitest";
import type { LatencyEstimate } from "../../src/shared/backend.ts";
import { foldSharedLatency } from "../../src/shared/latency.ts";
import { type InstanceEntry, mergeReport, type PoolRecords, snapshotOf } from "../../src/state/snapshot.ts";
import type { BackendPatch, InstanceReport } from "../../src/state/types.ts";
import { instanceReport } from "../support/patches.ts";

const report = (instance: string, inflight: Record<string, number>, extra: Partial<InstanceReport> = {}) =>
  instanceReport(instance, inflight, extra, 30_000);

function records(
  instances: Record<string, InstanceEntry> = {},
  flags: Record<string, BackendPatch> = {},
  latency: Record<string, LatencyEstimate> = {},
): PoolRecords {
  return {
    instances: new Map(Object.entries(instances)),
    flags: new Map(Object.entries(flags)),
    latency: new Map(Object.entries(latency)),
  };
}

describe("mergeReport", () => {
  it("makes the report the instance's entry, expiring ttlMs after now", () => {
    const merged = mergeReport(new Map(), report("a", { x: 2 }, { ttlMs: 5_000 }), 1_000);
    expect(merged.entry).toEqual({ inflight: { x: 2 }, expiresAt: 6_000 });
    expect(merged.latency).toEqual({});
  });

  it("folds each reported mean into the shared estimate, skipping empty summaries, and changes nothing it was given", () => {
    const before = new Map<string, LatencyEstimate>([["x", { ewmaMs: 100, updatedAt: 1 }]]);
    const merged = mergeReport(
      before,
      report(
        "a",
        {},
        { latency: { x: { count: 3, meanMs: 10 }, y: { count: 1, meanMs: 7 }, z: { count: 0, meanMs: 9 } } },
      ),
      2_000,
    );
    expect(merged.latency).toEqual({
      x: foldSharedLatency({ ewmaMs: 100, updatedAt: 1 }, { count: 3, meanMs: 10 }, 2_000),
      y: { ewmaMs: 7, updatedAt: 2_000 },
    });
    expect(before.get("x")).toEqual({ ewmaMs: 100, updatedAt: 1 });
    expect(before.size).toBe(1);
  });
});

describe("snapshotOf", () => {
  it("sums in-flight over live instances and names the expired ones, expiring at exactly expiresAt", () => {
    const view = snapshotOf(
      records({
        a: { inflight: { x: 1, y: 2 }, expiresAt: 10_001 },
        b: { inflight: { x: 3 }, expiresAt: 20_000 },
        dead: { inflight: { x: 50, z: 9 }, expiresAt: 10_000 },
      }),
      10_000,
    );
    expect(view.expired).toEqual(["dead"]);
    expect(view.snapshot.takenAt).toBe(10_000);
    expect(view.snapshot.backends).toEqual({ x: { inflight: 4 }, y: { inflight: 2 } });
  });

  it("lists every backend with flags, latency or load, each with its record", () => {
    const view = snapshotOf(
      records(
        { a: { inflight: { x: 1 }, expiresAt: 99 } },
        { y: { health: "down", reason: "timeout" }, x: { admin: "drained" } },
        { z: { ewmaMs: 12, updatedAt: 5 } },
      ),
      50,
    );
    expect(view.expired).toEqual([]);
    expect(view.snapshot.backends).toEqual({
      x: { admin: "drained", inflight: 1, latency: undefined },
      y: { health: "down", reason: "timeout", inflight: 0, latency: undefined },
      z: { inflight: 0, latency: { ewmaMs: 12, updatedAt: 5 } },
    });
  });

  it("matches a store's sequence of syncs: reports are absolute and an empty one clears", () => {
    const instances = new Map<string, InstanceEntry>();
    const latency = new Map<string, LatencyEstimate>();
    const sync = (r: InstanceReport, now: number) => {
      const merged = mergeReport(latency, r, now);
      instances.set(r.instance, merged.entry);
      for (const [backend, estimate] of Object.entries(merged.latency)) latency.set(backend, estimate);
      const view = snapshotOf({ instances, flags: new Map(), latency }, now);
      for (const name of view.expired) instances.delete(name);
      return view.snapshot;
    };
    sync(report("a", { x: 1, y: 2 }), 0);
    sync(report("b", { x: 3 }), 1);
    expect(sync(report("b", { x: 1 }), 2).backends).toMatchObject({ x: { inflight: 2 }, y: { inflight: 2 } });
    const cleared = sync(report("a", {}), 3).backends;
    expect(cleared).toMatchObject({ x: { inflight: 1 } });
    // Nobody reports, flags or measures y any more: it leaves the view.
    expect(cleared.y).toBeUndefined();
    // b's report outlives its ttl: gone from the view and from the records.
    expect(sync(report("a", {}), 30_002).backends).toEqual({});
    expect([...instances.keys()]).toEqual(["a"]);
  });
});
