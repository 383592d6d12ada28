// Upstreams and a config for the several-pools suites: each pool has its own named upstreams
// (x-upstream says which answered), so a tally shows both the pool and the rotation inside it.
import { Agent, request } from "node:http";
import type { Upstream } from "../../scripts/upstream.ts";
import { startUpstreams } from "./upstreams.ts";

/** Pool name -> the names of its upstreams. */
export const POOL_MEMBERS = {
  api: ["api1", "api2"],
  static: ["static1", "static2"],
  web: ["web1", "web2", "web3"],
  sticky: ["hash1", "hash2", "hash3"],
  lc: ["lc1", "lc2"],
  eu: ["eu1", "eu2", "eu3"],
  us: ["us1", "us2"],
  ap: ["ap1"],
  fallback: ["sorry1"],
  heavy: ["heavy1"],
  light: ["light1"],
  slow: ["slow1"],
  quick: ["quick1"],
} as const;

export type PoolName = keyof typeof POOL_MEMBERS;

export async function startPoolUpstreams(): Promise<Record<string, Upstream>> {
  const names = Object.values(POOL_MEMBERS).flat();
  const upstreams = await startUpstreams(names);
  return Object.fromEntries(upstreams.map((u) => [u.name, u]));
}

/** The pool an upstream belongs to. */
export const poolOf = (upstream: string | null): string =>
  Object.entries(POOL_MEMBERS).find(([, members]) => (members as readonly string[]).includes(upstream ?? ""))?.[0] ??
  `none (${upstream})`;

const HEALTH = { path: "/healthz", interval_ms: 1_000, timeout_ms: 500, rise: 1, fall: 1 };

/** Ten routes over thirteen pools: host, path (stripped), method-free, geo, proximity, random, least-outstanding. */
export function routingConfig(upstreams: Record<string, Upstream>, extra: Record<string, unknown> = {}) {
  const backends = (pool: PoolName) => POOL_MEMBERS[pool].map((name) => ({ name, url: upstreams[name]!.url }));
  return {
    log_requests: false,
    pools: [
      { name: "api", backends: backends("api") },
      { name: "static", backends: backends("static") },
      { name: "web", backends: backends("web") },
      {
        name: "sticky",
        algorithm: "ip-hash",
        hash_key: { source: "header", name: "x-user" },
        backends: backends("sticky"),
      },
      { name: "lc", algorithm: "least-connections", backends: backends("lc") },
      {
        name: "eu",
        backends: backends("eu"),
        minimum_healthy: 2,
        latitude: 50.11,
        longitude: 8.68,
        health_check: HEALTH,
      },
      { name: "us", backends: backends("us"), latitude: 38.95, longitude: -77.45, health_check: HEALTH },
      { name: "ap", backends: backends("ap"), latitude: 1.35, longitude: 103.82 },
      { name: "fallback", backends: backends("fallback") },
      { name: "heavy", backends: backends("heavy"), weight: 3 },
      { name: "light", backends: backends("light"), weight: 1 },
      { name: "slow", backends: backends("slow") },
      { name: "quick", backends: backends("quick") },
    ],
    routes: [
      { name: "api", match: { host: "api.example.com" }, pools: ["api"] },
      { name: "static", match: { path_prefix: "/static/" }, strip_prefix: true, pools: ["static"] },
      { name: "sticky", match: { path_prefix: "/sticky" }, pools: ["sticky"] },
      { name: "lc", match: { path_prefix: "/lc" }, pools: ["lc"] },
      { name: "failover", match: { host: "failover.test" }, pools: ["eu", "us"], fallback_pool: "fallback" },
      {
        name: "geo",
        match: { host: "geo.test" },
        steering: "geo",
        pools: ["web"],
        country_pools: { DE: ["eu", "us"], US: ["us", "eu"] },
        continent_pools: { AS: ["ap"] },
      },
      { name: "near", match: { host: "near.test" }, steering: "proximity", pools: ["us", "eu", "ap"] },
      { name: "random", match: { host: "random.test" }, steering: "random", pools: ["heavy", "light"] },
      { name: "slow", match: { host: "slow.test" }, pools: ["slow"] },
      { name: "lor", match: { host: "lor.test" }, steering: "least-outstanding", pools: ["slow", "quick"] },
      { name: "default", pools: ["web"] },
    ],
    ...extra,
  };
}

export interface Answer {
  readonly status: number;
  readonly upstream: string | null;
  readonly body: string;
}

/** Connections are reused, as a real client's would be: 4,000 requests take seconds, not tens. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One request with a Host header of our choosing (fetch cannot set Host) over node:http, to
 * `base` (http://127.0.0.1:PORT or http://[::1]:PORT).
 */
export function hostRequest(
  base: string,
  host: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port,
        path,
        method: "GET",
        headers: { ...headers, host },
        agent: keepAlive,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            upstream: (res.headers["x-upstream"] as string | undefined) ?? null,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${base}${path} in 10 s`)));
    req.on("error", reject);
    req.end();
  });
}

/** Names in order of arrival: `tallyOf(["a","b","a"])` is { a: 2, b: 1 }. */
export function tallyOf(names: readonly (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of names) counts[name ?? "none"] = (counts[name ?? "none"] ?? 0) + 1;
  return counts;
}
