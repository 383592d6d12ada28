import { buildLeastConnections } from "./least-connections.ts";
import { buildLeastResponseTime } from "./least-response-time.ts";
import { buildMaglev } from "./maglev.ts";
import { buildRoundRobin } from "./round-robin.ts";
import type { Backend } from "../shared/backend.ts";
import type { Algorithm, SelectionInput, Selector } from "./types.ts";
import { buildWeightedRoundRobin } from "./weighted-round-robin.ts";

/** Builds the selector for one backend set; rebuild when the set or a weight changes. */
export function buildSelector(algorithm: Algorithm, backends: readonly Backend[]): Selector {
  switch (algorithm) {
    case "round-robin":
      return buildRoundRobin(backends);
    case "weighted-round-robin":
      return buildWeightedRoundRobin(backends);
    case "ip-hash":
      return buildMaglev(backends);
    case "least-connections":
      return buildLeastConnections(backends);
    case "least-response-time":
      return buildLeastResponseTime(backends);
    default: {
      // A new Algorithm member without a case here is a compile error, not a silent fallthrough.
      const unknown: never = algorithm;
      throw new RangeError(`unknown algorithm ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * The first candidate not in `excluded` (backend names: unhealthy, drained, already tried), or
 * undefined when every backend is excluded. Candidates are produced lazily, so a pick whose
 * first choice is usable costs only that first choice.
 */
export function pick(
  selector: Selector,
  input: SelectionInput,
  excluded: ReadonlySet<string>,
): Backend | undefined {
  for (const backend of selector.candidates(input)) {
    if (!excluded.has(backend.name)) return backend;
  }
  return undefined;
}
