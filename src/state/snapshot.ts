import type { LatencyEstimate } from "../shared/backend.ts";
import { foldSharedLatency } from "../shared/latency.ts";
import type { BackendPatch, BackendSnapshot, InstanceReport, PoolSnapshot } from "./types.ts";

/**
 * How a store that keeps a pool in memory (MemoryStore, the Durable Object) turns instance
 * reports into the pool's shared view. Pure: each function returns what changed and the store
 * applies it, so the Durable Object can write through exactly the estimates that moved.
 */

/** One instance's last report, as the store keeps it. */
export interface InstanceEntry {
  readonly inflight: Readonly<Record<string, number>>;
  /** Store clock ms at which the report stops counting. */
  readonly expiresAt: number;
}

/** What a store holds for one pool, besides its sequence and locks. */
export interface PoolRecords {
  /** instance -> its last report */
  readonly instances: ReadonlyMap<string, InstanceEntry>;
  /** backend -> its shared record (health, admin, ejection...) */
  readonly flags: ReadonlyMap<string, BackendPatch>;
  /** backend -> shared latency estimate */
  readonly latency: ReadonlyMap<string, LatencyEstimate>;
}

export interface MergedReport {
  /** The reporting instance's new entry (replaces its previous one: reports are absolute). */
  readonly entry: InstanceEntry;
  /** The latency estimates this report moved, folded into the current ones. */
  readonly latency: Readonly<Record<string, LatencyEstimate>>;
}

export function mergeReport(
  latency: ReadonlyMap<string, LatencyEstimate>,
  report: InstanceReport,
  now: number,
): MergedReport {
  const folded: Record<string, LatencyEstimate> = {};
  for (const [backend, summary] of Object.entries(report.latency)) {
    if (summary.count > 0) folded[backend] = foldSharedLatency(latency.get(backend), summary, now);
  }
  return { entry: { inflight: report.inflight, expiresAt: now + report.ttlMs }, latency: folded };
}

export interface PoolView {
  readonly snapshot: PoolSnapshot;
  /** Instances whose report expired: the store forgets them. */
  readonly expired: readonly string[];
}

/** The pool's view at `now`: in-flight summed over live instances, flags and latency as held. */
export function snapshotOf(records: PoolRecords, now: number): PoolView {
  const inflight = new Map<string, number>();
  const expired: string[] = [];
  for (const [instance, entry] of records.instances) {
    if (entry.expiresAt <= now) {
      expired.push(instance);
      continue;
    }
    for (const [backend, count] of Object.entries(entry.inflight)) {
      inflight.set(backend, (inflight.get(backend) ?? 0) + count);
    }
  }
  const names = new Set([...inflight.keys(), ...records.flags.keys(), ...records.latency.keys()]);
  const backends: Record<string, BackendSnapshot> = {};
  for (const name of names) {
    backends[name] = {
      ...records.flags.get(name),
      inflight: inflight.get(name) ?? 0,
      latency: records.latency.get(name),
    };
  }
  return { snapshot: { takenAt: now, backends }, expired };
}

/** The snapshot with its live count, when there is one to give. */
export function withLive(snapshot: PoolSnapshot, live: number): PoolSnapshot {
  return live > 0 ? { ...snapshot, live } : snapshot;
}
