import type { Config } from "../config/load-config.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { compileMatch, type HeaderReader } from "../routing/route-match.ts";
import { type Route, Router } from "../routing/router.ts";
import { type ClientLocation, type PoolStanding, type SteeringDecision, steer } from "../routing/steering.ts";
import { SteeringLog } from "../routing/steering-log.ts";
import type { Defer } from "../shared/defer.ts";

/** Where one request goes: the pool, the target it forwards, and the route that decided. */
export interface Routed {
  readonly pool: PoolRuntime;
  readonly target: string;
  readonly route: string;
}

/** The request as routing reads it; location is asked for only by geo and proximity routes. */
export interface RoutingInput<Client = unknown> {
  readonly method: string;
  readonly host: string;
  readonly target: string;
  readonly headers: HeaderReader;
  /** What `locate` reads the client's location from (the Hono context); no closure per request. */
  readonly client: Client;
  readonly locate: (client: Client) => ClientLocation;
  readonly defer: Defer;
}

const NOWHERE: ClientLocation = {};

/** The config's routes, or without any, one catch-all over every pool in order (failover). */
export function routesOf(config: Config): Route[] {
  const configured = config.routes ?? [
    { name: "default", pools: config.pools.map((p) => p.name), steering: "failover" as const, strip_prefix: false },
  ];
  return configured.map((route, index) => {
    const match = compileMatch(route.match);
    return {
      name: route.name ?? (match ? `routes[${index}]` : "default"),
      match,
      stripPrefix: route.strip_prefix,
      steering: {
        policy: route.steering,
        pools: route.pools,
        fallback: route.fallback_pool,
        countryPools: new Map(Object.entries(("country_pools" in route && route.country_pools) || {})),
        continentPools: new Map(Object.entries(("continent_pools" in route && route.continent_pools) || {})),
      },
    };
  });
}

/** Pools that a least-outstanding route weighs by in-flight requests. */
export function poolsWeighedByLoad(routes: readonly Route[]): Set<string> {
  const names = new Set<string>();
  for (const { steering } of routes) {
    if (steering.policy === "least-outstanding") for (const pool of steering.pools) names.add(pool);
  }
  return names;
}

/** How many requests one route steered to one pool one way (a metrics counter). */
interface SteeredCount {
  n: number;
}

/**
 * A failover-order route's last decision, reused while every pool it read stands as it did:
 * failover looks only at the usable backends of the pools it reads, so the same counts give the
 * same pool and the same (empty) transition log. No standing, decision or log entry is built then.
 */
interface RememberedDecision {
  /** Usable backends of the route's first `usable.length` pools, as read for the decision. */
  readonly usable: readonly number[];
  readonly pool: PoolRuntime;
  readonly count: SteeredCount;
}

interface RouteSteering {
  /** The route's pools in its order. */
  readonly pools: readonly PoolRuntime[];
  /** Failover only: the others draw, locate or weigh load per request. */
  readonly remembers: boolean;
  last: RememberedDecision | undefined;
}

/**
 * Routing once per request, before selection: the router finds the route, steering the pool
 * (from each pool's shared view, kept fresh by asking for it), and the log notes a pool crossing
 * its minimum. A config of one pool and no routes never reaches steering.
 */
export class RequestRouting {
  readonly #router: Router;
  readonly #pools: ReadonlyMap<string, PoolRuntime>;
  readonly #log: SteeringLog;
  readonly #random: () => number;
  readonly #only: PoolRuntime | undefined;
  readonly #steering: ReadonlyMap<Route, RouteSteering>;
  /** route -> how -> pool -> requests steered so; `steered` flattens it for metrics. */
  readonly #steered = new Map<string, Map<string, Map<string, SteeredCount>>>();

  constructor(
    readonly routes: readonly Route[],
    pools: readonly PoolRuntime[],
    log: (line: string) => void,
    random: () => number = Math.random,
  ) {
    this.#router = new Router(routes);
    this.#pools = new Map(pools.map((p) => [p.spec.name, p]));
    this.#log = new SteeringLog(log, routes.length > 1);
    this.#random = random;
    this.#steering = new Map(
      routes.map((route) => [
        route,
        {
          pools: route.steering.pools.map((name) => this.#pools.get(name)!),
          remembers: route.steering.policy === "failover",
          last: undefined,
        },
      ]),
    );
    const [first] = routes;
    const direct = routes.length === 1 && !first!.match && first!.steering;
    if (direct && direct.pools.length === 1 && direct.fallback === undefined && direct.policy !== "geo") {
      this.#only = this.#pools.get(direct.pools[0]!);
    }
  }

  /** Undefined: no route matches (404 no_route). */
  resolve<Client>(input: RoutingInput<Client>): Routed | undefined | Promise<Routed> {
    // One pool and no routes (the environment-variable form): nothing to match or steer.
    if (this.#only) return { pool: this.#only, target: input.target, route: this.routes[0]!.name };
    const hit = this.#router.route(input.method, input.host, input.target, input.headers);
    if (!hit) return undefined;
    const { route, target } = hit;
    const plan = route.steering;
    if (plan.pools.length === 1 && plan.fallback === undefined && plan.policy !== "geo") {
      return { pool: this.#pools.get(plan.pools[0]!)!, target, route: route.name };
    }
    const steering = this.#steering.get(route)!;
    const same = steering.last && this.#standsAsBefore(steering.last, steering.pools, input.defer);
    if (same === true) {
      steering.last!.count.n++;
      return { pool: steering.last!.pool, target, route: route.name };
    }
    // Every pool steering may read must have a view; asking for it also keeps it fresh.
    const cold: Promise<unknown>[] = same instanceof Promise ? [same] : [];
    for (const pool of steering.pools) {
      const ready = pool.state.ready(input.defer);
      if (ready instanceof Promise) cold.push(ready);
    }
    if (cold.length === 0) return this.#decide(route, steering, target, input);
    return Promise.all(cold).then(() => this.#decide(route, steering, target, input));
  }

  /**
   * Whether the pools the last decision read still have the usable counts it saw. Each is asked
   * for its view, which keeps it fresh, except the chosen one, which the proxy asks next anyway.
   * Pools after the chosen one are not read, so not kept fresh here: the first request that
   * needs one asks for its view, and a stale one starts a sync (PoolState.ready).
   */
  #standsAsBefore(last: RememberedDecision, pools: readonly PoolRuntime[], defer: Defer): boolean | Promise<unknown> {
    const now = Date.now();
    const { usable } = last;
    for (let i = 0; i < usable.length; i++) {
      const pool = pools[i]!;
      const view = pool === last.pool ? pool.state.snapshot : pool.state.ready(defer);
      if (view instanceof Promise) return view;
      if (pool.rotation.current(view, now).healthy !== usable[i]) return false;
    }
    return true;
  }

  /** What steer() reads a pool's standing with: made once, reading the decision's time and policy. */
  readonly #standing = (name: string): PoolStanding => standingOf(this.#pools.get(name)!, this.#now, this.#weighsLoad);
  #now = 0;
  #weighsLoad = false;

  #decide<Client>(route: Route, steering: RouteSteering, target: string, input: RoutingInput<Client>): Routed {
    const plan = route.steering;
    this.#now = Date.now();
    this.#weighsLoad = plan.policy === "least-outstanding";
    const located = plan.policy === "geo" || plan.policy === "proximity";
    const decision = steer(plan, this.#standing, located ? input.locate(input.client) : NOWHERE, this.#random);
    this.#log.observe(route.name, decision);
    const count = this.#countOf(route.name, decision);
    count.n++;
    const pool = this.#pools.get(decision.pool)!;
    if (steering.remembers) steering.last = { usable: decision.seen.map((s) => s.usable), pool, count };
    return { pool, target, route: route.name };
  }

  // Nested by route, keyed by pool and how: no string is built per request.
  #countOf(route: string, decision: SteeringDecision): SteeredCount {
    let counts = this.#steered.get(route);
    if (!counts) {
      counts = new Map();
      this.#steered.set(route, counts);
    }
    let byPool = counts.get(decision.by);
    if (!byPool) {
      byPool = new Map();
      counts.set(decision.by, byPool);
    }
    let count = byPool.get(decision.pool);
    if (!count) {
      count = { n: 0 };
      byPool.set(decision.pool, count);
    }
    return count;
  }

  /** route \u0000 pool \u0000 how -> requests steered so (metrics). */
  get steered(): ReadonlyMap<string, number> {
    const flat = new Map<string, number>();
    for (const [route, counts] of this.#steered) {
      for (const [by, byPool] of counts) {
        for (const [pool, count] of byPool) flat.set(`${route}\u0000${pool}\u0000${by}`, count.n);
      }
    }
    return flat;
  }
}

/** One pool's standing from this instance's view of it. */
export function standingOf(pool: PoolRuntime, now: number, withOutstanding: boolean): PoolStanding {
  const { spec, state } = pool;
  let outstanding = 0;
  if (withOutstanding) for (const b of spec.backends) outstanding += state.load.inflight(b.name);
  return {
    name: spec.name,
    usable: pool.rotation.current(state.snapshot, now).healthy,
    total: spec.backends.length,
    minimum: spec.steering.minimumHealthy,
    weight: spec.steering.weight,
    outstanding,
    latitude: spec.steering.latitude,
    longitude: spec.steering.longitude,
  };
}
