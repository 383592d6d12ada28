import type { Backend } from "../shared/backend.ts";
import type { LogEvent } from "../shared/log.ts";
import type { BackendPatch } from "../state/types.ts";
import { applyCheck, type Thresholds } from "./hysteresis.ts";
import type { ProbeResult } from "./probe.ts";

export interface RoundChange {
  readonly backend: Backend;
  readonly patch: BackendPatch;
  /** `<url> [up]` or `<url> [down] (<reason>)` when health changed (README, Health, failure and retries). */
  readonly line?: string;
  /** The same transition as the JSON log records it. */
  readonly event?: LogEvent;
}

/**
 * What one round of probe results does to the shared records: rise/fall against each
 * backend's current record, a patch for every record that changed, a log line per transition.
 * Pure, so the instance checker and the Durable Object alarm apply exactly the same rules.
 */
export function judgeRound(
  backends: readonly Backend[],
  results: readonly ProbeResult[],
  recordOf: (name: string) => BackendPatch | undefined,
  thresholds: Thresholds,
  now: number,
): RoundChange[] {
  const changes: RoundChange[] = [];
  backends.forEach((backend, index) => {
    const result = results[index]!;
    const before = recordOf(backend.name);
    const previous = { health: before?.health ?? "up", streak: before?.streak ?? 0 } as const;
    const next = applyCheck(previous, result.passed, thresholds);
    if (next.health === previous.health && next.streak === previous.streak) return;
    const patch: BackendPatch = { health: next.health, streak: next.streak };
    if (next.health === previous.health) changes.push({ backend, patch });
    else if (next.health === "up")
      changes.push({
        backend,
        patch: { ...patch, since: now, reason: "" },
        line: `${backend.url} [up]`,
        event: { event: "up", backend: backend.name, url: backend.url },
      });
    else
      changes.push({
        backend,
        patch: { ...patch, reason: result.reason },
        line: `${backend.url} [down] (${result.reason})`,
        event: { event: "down", backend: backend.name, url: backend.url, reason: result.reason },
      });
  });
  return changes;
}
