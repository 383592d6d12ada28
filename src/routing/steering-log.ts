import { isHealthy, type PoolStanding, type SteeringDecision } from "./steering.ts";

/**
 * One line each time a pool of a route crosses its minimum, as this instance sees it:
 * `pool eu [down] (1 of 3 healthy, minimum 2) -> failover to us`. Pools that start healthy say
 * nothing; one that is already below its minimum when first seen is reported then.
 */
export class SteeringLog {
  /** route -> pool -> healthy when last seen (nested: no key string built per request) */
  readonly #healthy = new Map<string, Map<string, boolean>>();

  constructor(
    private readonly write: (line: string) => void,
    /** Name the route in each line (a config with several routes). */
    private readonly nameRoutes: boolean,
  ) {}

  observe(route: string, decision: SteeringDecision): void {
    let seen = this.#healthy.get(route);
    if (!seen) {
      seen = new Map();
      this.#healthy.set(route, seen);
    }
    for (const standing of decision.seen) {
      const healthy = isHealthy(standing);
      const before = seen.get(standing.name);
      if (before === healthy || (before === undefined && healthy)) {
        if (before === undefined) seen.set(standing.name, healthy);
        continue;
      }
      seen.set(standing.name, healthy);
      const suffix = this.nameRoutes ? ` (route ${route})` : "";
      this.write(`${describe(standing, healthy)} -> ${outcome(standing, healthy, decision)}${suffix}`);
    }
  }
}

function describe(s: PoolStanding, healthy: boolean): string {
  return `pool ${s.name} [${healthy ? "up" : "down"}] (${s.usable} of ${s.total} healthy, minimum ${s.minimum})`;
}

function outcome(standing: PoolStanding, healthy: boolean, decision: SteeringDecision): string {
  if (healthy) return decision.pool === standing.name ? `traffic returns to ${standing.name}` : "available again";
  switch (decision.by) {
    case "fallback":
      return `fallback pool ${decision.pool}`;
    case "last-resort":
      return `no pool healthy enough, trying ${decision.pool}`;
    case "weighted":
      return `steering among ${decision.among.join(", ")}`;
    default:
      return decision.pool === standing.name ? `still ${decision.pool}` : `failover to ${decision.pool}`;
  }
}
