import type { BackendPatch, InstanceReport } from "../../src/state/types.ts";

/** Every backend-record field set, with values that would not survive a careless conversion. */
export const FULL_PATCH: Required<BackendPatch> = {
  health: "down",
  admin: "drained",
  streak: 3,
  reason: 'status 503, expected 200 | "quoted" — «überlastet» 🚑',
  since: 1_767_225_600_123.5,
  ejectedUntil: 1_767_225_630_000,
  ejections: 4,
  weight: 1_000,
  drainUntil: 1_767_225_660_000.25,
};

/** One instance's report: in-flight counts, no latency samples unless `extra` has them. */
export function instanceReport(
  instance: string,
  inflight: Record<string, number>,
  extra: Partial<InstanceReport> = {},
  ttlMs = 30_000,
): InstanceReport {
  return { instance, inflight, latency: {}, ttlMs, ...extra };
}

/** Patches every store must refuse: an unknown field, and each known field with a wrong type or range. */
export const INVALID_PATCHES: readonly unknown[] = [
  { colour: "red" },
  { streak: -1 },
  { ejections: 0.5 },
  { since: "now" },
  { admin: "paused" },
  { reason: 1 },
];
