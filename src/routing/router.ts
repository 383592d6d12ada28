import {
  type HeaderReader,
  matches,
  pathOf,
  type RouteMatch,
  routingHost,
  routingTarget,
  stripPrefix,
} from "./route-match.ts";
import type { SteeringPlan } from "./steering.ts";

/** One route as the router runs it: converted once from the config (src/app/routing.ts). */
export interface Route {
  readonly name: string;
  /** Undefined: the catch-all. */
  readonly match: RouteMatch | undefined;
  /** Remove match.pathPrefix before forwarding. */
  readonly stripPrefix: boolean;
  readonly steering: SteeringPlan;
}

export interface RouteHit {
  readonly route: Route;
  /** The target to forward: the client's, or without the route's prefix. */
  readonly target: string;
}

/**
 * Routes tried in order, first match wins (nginx's `location` without regex, HAProxy's
 * use_backend rules). Ten routes cost ten short comparisons; no table is worth building below
 * hundreds, and the order rule must stay the one the config reads.
 */
export class Router {
  constructor(readonly routes: readonly Route[]) {}

  route(method: string, host: string, target: string, headers: HeaderReader): RouteHit | undefined {
    const normalized = routingTarget(target);
    const bareHost = routingHost(host);
    const path = pathOf(normalized);
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      const match = route.match;
      if (match === undefined) return { route, target };
      if (!matches(match, bareHost, path, method, headers)) continue;
      const prefix = match.pathPrefix;
      return { route, target: route.stripPrefix && prefix !== undefined ? stripPrefix(normalized, prefix) : target };
    }
    return undefined;
  }
}
