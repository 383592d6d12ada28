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
  if (record.health === "down" || (record.ejectedUntil ?? 0) > now) return undefined;
  if (record.admin === "disabled") return undefined;
  if (record.admin === "drained" && !((record.drainUntil ?? 0) > now)) return undefined;
  return backend;
}
