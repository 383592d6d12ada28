import type { Backend } from "../shared/backend.ts";
import { checkBackends } from "./check-backends.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/**
 * Maps a shared sequence position onto 0..n-1. The sequence is a store counter that only grows,
 * but a negative value (a reset store, a test) must still land in range rather than index
 * outside the array.
 */
export function positionOf(seq: number, n: number): number {
  if (!Number.isFinite(seq)) throw new RangeError(`sequence must be a finite number, got ${seq}`);
  return ((Math.trunc(seq) % n) + n) % n;
}

/**
 * Plain round robin: the shared sequence alone decides, so every instance that reserved a block
 * of positions agrees on the global rotation. Fallbacks continue the rotation (nginx's order).
 * That hands all of an excluded backend's turns to its successor, so long-lived exclusions
 * (unhealthy, drained) belong in the backend set the selector is built from, as README's
 * Algorithms table says (available[seq mod n]; rotation.ts rebuilds over the usable backends);
 * exclusion is for the already-tried backends of one request.
 */
export function buildRoundRobin(backends: readonly Backend[]): Selector {
  checkBackends(backends);
  const list = [...backends];
  const n = list.length;
  return {
    *candidates({ seq }) {
      if (n === 0) return;
      const start = positionOf(seq, n);
      for (let i = 0; i < n; i++) yield list[(start + i) % n]!;
    },
  };
}

export const roundRobin = {
  name: "round-robin",
  help: "each backend in turn; one rotation shared by every instance",
  needs: "sequence",
  build: buildRoundRobin,
  positionsPerTurn: (backends) => Math.max(1, backends.length),
} as const satisfies BalancingAlgorithm;
