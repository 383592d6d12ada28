import type { Backend } from "../../shared/backend.ts";
import type { BackendSnapshot } from "../../state/types.ts";

/**
 * Whether a session's own backend may still serve it: it exists, health checks have not taken
 * it down, it is not ejected or disabled, and a drain has not run out. Weight 0 and a drain that
 * is still running keep existing sessions (they only stop new ones, which selection sees to).
 */
export function sessionTarget(
  backends: readonly Backend[],
  name: string | undefined,
  record: BackendSnapshot | undefined,
  now: number,
): Backend | undefined {
  if (name === undefined) return undefined;
  const backend = backends.find((b) => b.name === name);
  if (!backend || !record) return backend;
  if (outForNow(record, now) || !adminAllows(record, now)) return undefined;
  return backend;
}

/**
 * Whether the session's backend is out only until health checks or its ejection let it back
 * (ZERO_DOWNTIME_FAILOVER=temporary keeps such sessions), rather than gone from the pool or
 * taken out by the admin (a disable, a drain that ran out), which places them again.
 */
export function outUntilRecovered(
  backends: readonly Backend[],
  name: string | undefined,
  record: BackendSnapshot | undefined,
  now: number,
): boolean {
  if (name === undefined || !record || !backends.some((b) => b.name === name)) return false;
  return outForNow(record, now) && adminAllows(record, now);
}

function outForNow(record: BackendSnapshot, now: number): boolean {
  return record.health === "down" || (record.ejectedUntil ?? 0) > now;
}

function adminAllows(record: BackendSnapshot, now: number): boolean {
  if (record.admin === "disabled") return false;
  return record.admin !== "drained" || (record.drainUntil ?? 0) > now;
}
