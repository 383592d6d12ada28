import type { Health } from "../state/types.ts";

/** Consecutive results and the state they produced, kept per backend in the shared store. */
export interface CheckRecord {
  readonly health: Health;
  /** Consecutive passes while down, or consecutive failures while up. */
  readonly streak: number;
}

export interface Thresholds {
  readonly rise: number;
  readonly fall: number;
}

/**
 * HAProxy's rise/fall: a backend goes down after `fall` consecutive failures and comes back
 * after `rise` consecutive passes; a result that agrees with the current state resets the streak,
 * so a backend failing every other check never reaches fall >= 2.
 */
export function applyCheck(previous: CheckRecord | undefined, passed: boolean, t: Thresholds): CheckRecord {
  const current = previous ?? { health: "up", streak: 0 };
  const agrees = (current.health === "up") === passed;
  if (agrees) return { health: current.health, streak: 0 };
  const streak = current.streak + 1;
  const threshold = current.health === "up" ? t.fall : t.rise;
  if (streak >= threshold) return { health: current.health === "up" ? "down" : "up", streak: 0 };
  return { health: current.health, streak };
}
