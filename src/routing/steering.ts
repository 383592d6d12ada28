import { greatCircleKm } from "./geo.ts";

/**
 * Which pool of a route takes a request: Cloudflare Load Balancing's steering policies over the
 * pools' health as this instance sees it. Pure: standings, the client's location and the random
 * source are inputs, so every policy is tested with fixed numbers.
 */

export const STEERING_POLICIES = ["failover", "random", "geo", "proximity", "least-outstanding"] as const;
export type SteeringPolicy = (typeof STEERING_POLICIES)[number];

export interface SteeringPlan {
  readonly policy: SteeringPolicy;
  /** The route's pools in order: failover's order and geo's default list. */
  readonly pools: readonly string[];
  /** Used when no pool of the route is healthy enough (Cloudflare's fallback pool). */
  readonly fallback: string | undefined;
  /** geo: ISO 3166-1 alpha-2 country code -> ordered pools. */
  readonly countryPools: ReadonlyMap<string, readonly string[]>;
  /** geo: continent code (AF AN AS EU NA OC SA) -> ordered pools, when the country has none. */
  readonly continentPools: ReadonlyMap<string, readonly string[]>;
}

/** One pool as steering sees it. */
export interface PoolStanding {
  readonly name: string;
  /** Backends that take new requests now (up, not ejected, not drained or disabled, weight > 0). */
  readonly usable: number;
  readonly total: number;
  /** minimum_healthy: below it the pool is passed over. */
  readonly minimum: number;
  /** random and least-outstanding: the pool's share before scaling. */
  readonly weight: number;
  /** least-outstanding: requests in flight to the pool across instances. */
  readonly outstanding: number;
  readonly latitude: number | undefined;
  readonly longitude: number | undefined;
}

export interface ClientLocation {
  readonly country?: string;
  readonly continent?: string;
  readonly latitude?: number;
  readonly longitude?: number;
}

export type SteeringDecision = {
  readonly pool: string;
  /** Every pool whose standing was read, in the order read: the transition log compares them. */
  readonly seen: readonly PoolStanding[];
} & (
  | /** The policy's first choice was healthy. */ { readonly by: "preferred" }
  | /** An earlier pool in the order was below its minimum. */ { readonly by: "failover" }
  | /** random / least-outstanding: drawn among these healthy pools. */ {
      readonly by: "weighted";
      readonly among: readonly string[];
    }
  | /** No pool of the route was healthy enough. */ { readonly by: "fallback" }
  | /** Nothing healthy enough and no fallback pool: the pool with most usable backends. */ {
      readonly by: "last-resort";
    }
);

export const isHealthy = (standing: PoolStanding): boolean =>
  standing.usable > 0 && standing.usable >= standing.minimum;

export function steer(
  plan: SteeringPlan,
  standingOf: (pool: string) => PoolStanding,
  location: ClientLocation,
  random: () => number,
): SteeringDecision {
  if (plan.policy === "random" || plan.policy === "least-outstanding") {
    return drawWeighted(plan, plan.pools.map(standingOf), random);
  }
  const seen: PoolStanding[] = [];
  for (const name of orderOf(plan, location, standingOf)) {
    const standing = standingOf(name);
    seen.push(standing);
    if (isHealthy(standing)) return { pool: name, by: seen.length === 1 ? "preferred" : "failover", seen };
  }
  return noneHealthy(plan, seen);
}

/** The pools in the order the policy tries them; geo and proximity fall back to the route's order. */
function orderOf(
  plan: SteeringPlan,
  location: ClientLocation,
  standingOf: (pool: string) => PoolStanding,
): readonly string[] {
  if (plan.policy === "geo") {
    const regional =
      (location.country && plan.countryPools.get(location.country)) ||
      (location.continent && plan.continentPools.get(location.continent)) ||
      undefined;
    if (!regional) return plan.pools;
    return [...regional, ...plan.pools.filter((pool) => !regional.includes(pool))];
  }
  if (plan.policy === "proximity" && location.latitude !== undefined && location.longitude !== undefined) {
    const { latitude, longitude } = location;
    const distance = new Map(
      plan.pools.map((pool) => {
        const s = standingOf(pool);
        const km =
          s.latitude === undefined || s.longitude === undefined
            ? Number.POSITIVE_INFINITY
            : greatCircleKm(latitude, longitude, s.latitude, s.longitude);
        return [pool, km] as const;
      }),
    );
    // Array.prototype.sort is stable: equally distant pools keep the route's order.
    return [...plan.pools].sort((a, b) => distance.get(a)! - distance.get(b)!);
  }
  return plan.pools;
}

/**
 * Cloudflare's random steering draws a healthy pool by weight; least outstanding requests scales
 * each weight by 1 / (outstanding + 1), so a pool holding slow requests gets fewer new ones.
 */
function drawWeighted(plan: SteeringPlan, standings: readonly PoolStanding[], random: () => number): SteeringDecision {
  const healthy = standings.filter(isHealthy);
  if (healthy.length === 0) return noneHealthy(plan, standings);
  const scaled = healthy.map((s) => (plan.policy === "least-outstanding" ? s.weight / (s.outstanding + 1) : s.weight));
  const total = scaled.reduce((sum, w) => sum + w, 0);
  const among = healthy.map((s) => s.name);
  // All weights 0: the route's order decides, as failover would.
  if (total <= 0) return { pool: healthy[0]!.name, by: "weighted", among, seen: standings };
  let point = random() * total;
  for (let i = 0; i < healthy.length; i++) {
    point -= scaled[i]!;
    if (point < 0) return { pool: healthy[i]!.name, by: "weighted", among, seen: standings };
  }
  return { pool: healthy[healthy.length - 1]!.name, by: "weighted", among, seen: standings };
}

function noneHealthy(plan: SteeringPlan, seen: readonly PoolStanding[]): SteeringDecision {
  if (plan.fallback !== undefined) return { pool: plan.fallback, by: "fallback", seen };
  // Below every minimum, a pool with some usable backend still beats one with none.
  let best = seen[0]!;
  for (const s of seen) if (s.usable > best.usable) best = s;
  return { pool: best.name, by: "last-resort", seen };
}
