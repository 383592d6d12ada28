import { CONTINENT_CODES, COUNTRY_CODES, DEFAULT_LOCATION_HEADERS } from "../routing/geo.ts";
import { covers } from "../routing/route-cover.ts";
import { compileMatch, parseHostPattern } from "../routing/route-match.ts";
import { STEERING_POLICIES } from "../routing/steering.ts";
import * as z from "./zod.ts";

/**
 * Routes and steering, shaped after Cloudflare Load Balancing (pools, steering_policy,
 * fallback_pool, country_pools) with nginx/HAProxy-style matching on host, path, method and
 * headers. The cross-checks against the pools live in checkRoutes, called by the config schema.
 */

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] as const;
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;
const ROUTE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const methodSchema = z.pipe(
  z.pipe(
    z.string(),
    z.transform((m: string) => m.toUpperCase()),
  ),
  z.enum(METHODS, { error: `expected one of ${METHODS.join(", ")}` }),
);

const matchSchema = z.strictObject({
  host: z.optional(
    z.string().check(
      z.superRefine((text, ctx) => {
        const parsed = parseHostPattern(text);
        if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
      }),
    ),
  ),
  path_prefix: z.optional(
    z.string().check(z.regex(/^\/[^?#\s]*$/, "expected a path starting with / (no query, fragment or spaces)")),
  ),
  /** One method or a list of them. */
  method: z.optional(
    z.pipe(
      z.transform((value) => (typeof value === "string" ? [value] : value)),
      z.array(methodSchema).check(z.minLength(1, "expected at least one method")),
    ),
  ),
  headers: z.optional(
    z.record(
      z.string().check(z.regex(TOKEN, "expected a header name (a token)")),
      z.union([z.string(), z.literal(true)], { error: "expected a header value, or true for presence" }),
    ),
  ),
});

const poolList = z.array(z.string()).check(z.minLength(1, "expected at least one pool name"));

export const routeSchema = z.strictObject({
  name: z.optional(z.string().check(z.regex(ROUTE_NAME, "expected 1-64 letters, digits and _ . -"))),
  match: z.optional(matchSchema),
  strip_prefix: z._default(z.boolean(), false),
  pools: poolList,
  steering: z._default(z.enum(STEERING_POLICIES), "failover"),
  fallback_pool: z.optional(z.string()),
  country_pools: z.optional(z.record(z.string(), poolList)),
  continent_pools: z.optional(z.record(z.string(), poolList)),
});

export type RouteConfig = z.output<typeof routeSchema>;

/** Header names a trusted proxy in front reports the client's location in. */
export const locationHeadersSchema = z.strictObject({
  country: z._default(z.string().check(z.regex(TOKEN)), DEFAULT_LOCATION_HEADERS.country),
  continent: z._default(z.string().check(z.regex(TOKEN)), DEFAULT_LOCATION_HEADERS.continent),
  latitude: z._default(z.string().check(z.regex(TOKEN)), DEFAULT_LOCATION_HEADERS.latitude),
  longitude: z._default(z.string().check(z.regex(TOKEN)), DEFAULT_LOCATION_HEADERS.longitude),
});

interface PoolFacts {
  readonly name: string;
  readonly latitude?: number | undefined;
  readonly longitude?: number | undefined;
}

type Issue = { path: (string | number)[]; input: unknown; message: string };

/** Every problem of the routes against the pools, each at the path that has it. */
export function routeProblems(routes: readonly RouteConfig[] | undefined, pools: readonly PoolFacts[]): Issue[] {
  const issues: Issue[] = [];
  const seenPools = new Map<string, number>();
  pools.forEach((pool, index) => {
    const at = seenPools.get(pool.name);
    if (at !== undefined) {
      issues.push({
        path: ["pools", index, "name"],
        input: pool.name,
        message: `expected unique pool names; it repeats pools[${at}]`,
      });
    } else seenPools.set(pool.name, index);
  });
  if (!routes) return issues;
  const known = [...seenPools.keys()];
  const unknownPool = (path: (string | number)[], name: string) => {
    if (!seenPools.has(name))
      issues.push({ path, input: name, message: `expected the name of a pool (one of: ${known.join(", ")})` });
  };
  const routeNames = new Map<string, number>();
  routes.forEach((route, r) => {
    const here = ["routes", r];
    if (route.name !== undefined) {
      const at = routeNames.get(route.name);
      if (at !== undefined)
        issues.push({
          path: [...here, "name"],
          input: route.name,
          message: `expected unique route names; it repeats routes[${at}]`,
        });
      routeNames.set(route.name, r);
    }
    route.pools.forEach((name, p) => {
      unknownPool([...here, "pools", p], name);
    });
    if (route.fallback_pool !== undefined) unknownPool([...here, "fallback_pool"], route.fallback_pool);
    geoProblems(route, here, unknownPool, issues);
    if (route.steering === "proximity") {
      route.pools.forEach((name, p) => {
        const pool = pools.find((candidate) => candidate.name === name);
        if (pool && (pool.latitude === undefined || pool.longitude === undefined))
          issues.push({
            path: [...here, "pools", p],
            input: name,
            message: `expected pool ${name} to have latitude and longitude: proximity steering measures distance to each pool`,
          });
      });
    }
    if (route.strip_prefix && route.match?.path_prefix === undefined)
      issues.push({
        path: [...here, "strip_prefix"],
        input: true,
        message: "expected match.path_prefix: strip_prefix removes the matched prefix",
      });
    const match = compileMatch(route.match);
    const shadow = routes.slice(0, r).findIndex((earlier) => covers(compileMatch(earlier.match), match));
    if (shadow !== -1) {
      const why = compileMatch(routes[shadow]!.match) ? "matches every request this one does" : "is a catch-all";
      issues.push({
        path: here,
        input: route.name ?? `routes[${r}]`,
        message: `expected a reachable route: routes[${shadow}] ${why}, and the first matching route wins`,
      });
    }
  });
  return issues;
}

function geoProblems(
  route: RouteConfig,
  here: (string | number)[],
  unknownPool: (path: (string | number)[], name: string) => void,
  issues: Issue[],
): void {
  const maps = [
    ["country_pools", route.country_pools, COUNTRY_CODES, "an ISO 3166-1 alpha-2 country code in upper case"],
    ["continent_pools", route.continent_pools, CONTINENT_CODES, "a continent code: AF, AN, AS, EU, NA, OC or SA"],
  ] as const;
  for (const [field, map, codes, expected] of maps) {
    if (!map) continue;
    if (route.steering !== "geo")
      issues.push({
        path: [...here, field],
        input: route.steering,
        message: `expected steering "geo" for ${field} (the route's steering is ${route.steering})`,
      });
    for (const [code, list] of Object.entries(map)) {
      if (!codes.has(code)) issues.push({ path: [...here, field, code], input: code, message: `expected ${expected}` });
      list.forEach((name, p) => {
        unknownPool([...here, field, code, p], name);
      });
    }
  }
  if (route.steering === "geo" && !route.country_pools && !route.continent_pools)
    issues.push({
      path: [...here, "steering"],
      input: "geo",
      message: "expected country_pools or continent_pools with steering geo",
    });
}
