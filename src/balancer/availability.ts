import type { Backend } from "../shared/backend.ts";
import type { BackendPatch } from "../state/types.ts";

export interface AvailabilityPolicy {
  /** At most this share of the primaries counts as ejected at once (at least one may be). */
  readonly maxEjectionPercent: number;
  /** Below this share of usable primaries, use every primary that is not switched off. */
  readonly panicThresholdPercent: number;
  readonly slowStartMs: number;
}

/** Which backends take traffic now, decided from the shared records. Pure; time is an input. */
export interface Availability {
  /** The tier in use: the primaries, or the backups while no primary is usable. */
  readonly tier: "primary" | "backup";
  /** Members that take new requests now, each carrying its effective weight. */
  readonly usable: readonly Backend[];
  /** True when health was ignored because too few (or no) backends were usable. */
  readonly panic: boolean;
  /** Members truly usable, panic aside: what a pool's minimum_healthy is compared with. */
  readonly healthy: number;
  /** Backends still ramping up after recovery, with their share of full weight now (0..1). */
  readonly rampShare: ReadonlyMap<string, number>;
  /** When this answer may change by the clock alone (an ejection ends, a ramp completes). */
  readonly validUntil: number;
}

/** How many of `poolSize` backends may count as ejected at once: at least one unless 0%. */
export function ejectionCap(poolSize: number, maxEjectionPercent: number): number {
  if (maxEjectionPercent <= 0) return 0;
  return Math.max(1, Math.floor((poolSize * maxEjectionPercent) / 100));
}

type RecordOf = (name: string) => BackendPatch | undefined;

/**
 * The weight a backend has now: one set at run time (admin API, shared by every instance)
 * replaces the configured one. 0 means it takes no new placements.
 */
export function effectiveWeight(backend: Backend, record: BackendPatch | undefined): number {
  return record?.weight ?? backend.weight;
}

/** The backend carrying its effective weight: the same object when that is the configured one. */
export function withEffectiveWeight(backend: Backend, record: BackendPatch | undefined): Backend {
  const weight = effectiveWeight(backend, record);
  return weight === backend.weight ? backend : { ...backend, weight };
}

/** Takes no new placements at all, whatever its health: not even in panic. */
const switchedOff = (b: Backend, r: BackendPatch | undefined) =>
  r?.admin === "disabled" || r?.admin === "drained" || effectiveWeight(b, r) === 0;

export function decideAvailability(
  backends: readonly Backend[],
  recordOf: RecordOf,
  now: number,
  policy: AvailabilityPolicy,
): Availability {
  // Selectors are built from what this returns, so weights set at run time must travel with it.
  const weighted = backends.map((b) => withEffectiveWeight(b, recordOf(b.name)));
  const primaries = weighted.filter((b) => !b.backup);
  const backups = weighted.filter((b) => b.backup);
  let validUntil = Infinity;

  // Ejections beyond the cap are not honoured: the earliest to end count, the rest serve.
  const ejected = new Set<string>();
  const ejections = primaries
    .map((b) => ({ name: b.name, until: recordOf(b.name)?.ejectedUntil ?? 0 }))
    .filter((e) => e.until > now)
    .sort((x, y) => x.until - y.until || (x.name < y.name ? -1 : 1));
  for (const e of ejections.slice(0, ejectionCap(primaries.length, policy.maxEjectionPercent))) {
    ejected.add(e.name);
    validUntil = Math.min(validUntil, e.until);
  }
  for (const b of backups) {
    const until = recordOf(b.name)?.ejectedUntil ?? 0;
    if (until > now) {
      ejected.add(b.name);
      validUntil = Math.min(validUntil, until);
    }
  }

  const usableOf = (tier: readonly Backend[]) =>
    tier.filter((b) => {
      const record = recordOf(b.name);
      return !switchedOff(b, record) && record?.health !== "down" && !ejected.has(b.name);
    });

  let tier: Availability["tier"] = "primary";
  let usable = usableOf(primaries);
  let panic = false;
  const healthyPrimaries = usable.length;
  const share = primaries.length === 0 ? 0 : (usable.length * 100) / primaries.length;
  if (usable.length === 0) {
    const usableBackups = usableOf(backups);
    if (usableBackups.length > 0) {
      tier = "backup";
      usable = usableBackups;
    } else {
      usable = primaries.filter((b) => !switchedOff(b, recordOf(b.name)));
      panic = usable.length > 0;
    }
  } else if (share < policy.panicThresholdPercent) {
    usable = primaries.filter((b) => !switchedOff(b, recordOf(b.name)));
    panic = true;
  }

  const rampShare = new Map<string, number>();
  if (policy.slowStartMs > 0) {
    for (const b of usable) {
      const since = recordOf(b.name)?.since;
      if (since === undefined || now >= since + policy.slowStartMs) continue;
      rampShare.set(b.name, Math.max(0.05, Math.max(0, now - since) / policy.slowStartMs));
      // The share changes continuously; recompute it about every tenth of the window.
      validUntil = Math.min(validUntil, now + Math.max(50, policy.slowStartMs / 10), since + policy.slowStartMs);
    }
  }
  const healthy = panic ? healthyPrimaries : usable.length;
  return { tier, usable, panic, healthy, rampShare, validUntil };
}
