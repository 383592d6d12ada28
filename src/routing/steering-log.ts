import { isHealthy, type PoolStanding, type SteeringDecision } from "./steering.ts";

/**
 * One line each time a pool of a route crosses its minimum, as this instance sees it:
 * `pool eu [down] (1 of 3 healthy, minimum 2) -> failover to us`. Pools that start healthy say
 * nothing; one that is already below its minimum when first seen is reported then.
 */
export class SteeringLog {
  /** route \u0000 pool -> healthy when last seen */
  readonly #healthy = new Map<string, boolean>();

  constructor(
    private readonly write: (line: string) => void,
    /** Name the route in each line (a config with several routes). */
    private readonly nameRoutes: boolean,
  ) {}

  observe(route: string, decision: SteeringDecision): void {
    for (const standing of decision.seen) {
      const key = `${route}\u0000${standing.name}`;
      const healthy = isHealthy(standing);
      const before = this.#healthy.get(key);
      if (before === healthy || (before === undefined && healthy)) {
        if (before === undefined) this.#healthy.set(key, healthy);
        continue;
      }
      this.#healthy.set(key, healthy);
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
