import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";

const backends = (n: number, port = 3031) =>
  Array.from({ length: n }, (_, i) => ({ url: `http://127.0.0.1:${port + i}` }));

const POOLS = [
  { name: "eu", backends: backends(3), minimum_healthy: 2, latitude: 50.1, longitude: 8.7 },
  { name: "us", backends: backends(2, 3041), latitude: 38.9, longitude: -77.4 },
  { name: "static", backends: backends(1, 3051) },
];

const load = (doc: Record<string, unknown>) =>
  loadConfig({ json: { text: JSON.stringify(doc), label: "edge-lb.json" } });

function problemsOf(doc: Record<string, unknown>) {
  try {
    load(doc);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("the config was accepted");
}

const INVALID: ReadonlyArray<{ name: string; doc: Record<string, unknown>; field: string; says: RegExp }> = [
  {
    name: "a route naming an unknown pool",
    doc: { pools: POOLS, routes: [{ pools: ["eu", "asia"] }] },
    field: "edge-lb.json (routes[0].pools[1])",
    says: /name of a pool \(one of: eu, us, static\)/,
  },
  {
    name: "duplicate pool names",
    doc: { pools: [...POOLS, { name: "eu", backends: backends(1, 3061) }] },
    field: "edge-lb.json (pools[3].name)",
    says: /unique pool names; it repeats pools\[0\]/,
  },
  {
    name: "a geo map with an unknown country code",
    doc: { pools: POOLS, routes: [{ pools: ["us"], steering: "geo", country_pools: { UK: ["eu"] } }] },
    field: "edge-lb.json (routes[0].country_pools.UK)",
    says: /ISO 3166-1 alpha-2/,
  },
  {
    name: "a fallback pool that does not exist",
    doc: { pools: POOLS, routes: [{ pools: ["eu", "us"], fallback_pool: "sorry" }] },
    field: "edge-lb.json (routes[0].fallback_pool)",
    says: /name of a pool/,
  },
  {
    name: "an unreachable route after a catch-all",
    doc: { pools: POOLS, routes: [{ pools: ["eu"] }, { match: { host: "api.example.com" }, pools: ["us"] }] },
    field: "edge-lb.json (routes[1])",
    says: /routes\[0\] is a catch-all/,
  },
  {
    name: "a route shadowed by a wider prefix",
    doc: {
      pools: POOLS,
      routes: [
        { match: { path_prefix: "/api" }, pools: ["eu"] },
        { match: { path_prefix: "/api/v2", method: "GET" }, pools: ["us"] },
      ],
    },
    field: "edge-lb.json (routes[1])",
    says: /routes\[0\] matches every request this one does/,
  },
  {
    name: "proximity with a pool without coordinates",
    doc: { pools: POOLS, routes: [{ pools: ["eu", "static"], steering: "proximity" }] },
    field: "edge-lb.json (routes[0].pools[1])",
    says: /latitude and longitude/,
  },
  {
    name: "strip_prefix without a path prefix",
    doc: { pools: POOLS, routes: [{ match: { host: "a.example.com" }, strip_prefix: true, pools: ["eu"] }] },
    field: "edge-lb.json (routes[0].strip_prefix)",
    says: /match\.path_prefix/,
  },
  {
    name: "a host pattern with a port",
    doc: { pools: POOLS, routes: [{ match: { host: "api.example.com:443" }, pools: ["eu"] }] },
    field: "edge-lb.json (routes[0].match.host)",
    says: /no port/,
  },
  {
    name: "minimum_healthy above the number of backends",
    doc: { pools: [{ name: "eu", backends: backends(2), minimum_healthy: 3 }] },
    field: "edge-lb.json (pools[0].minimum_healthy)",
    says: /at most the number of backends \(2\)/,
  },
  {
    name: "an unknown steering policy",
    doc: { pools: POOLS, routes: [{ pools: ["eu"], steering: "nearest" }] },
    field: "edge-lb.json (routes[0].steering)",
    says: /failover/,
  },
  {
    name: "a country map without geo steering",
    doc: { pools: POOLS, routes: [{ pools: ["eu"], country_pools: { DE: ["eu"] } }] },
    field: "edge-lb.json (routes[0].country_pools)",
    says: /steering "geo"/,
  },
  {
    name: "a continent code that is not one",
    doc: { pools: POOLS, routes: [{ pools: ["us"], steering: "geo", continent_pools: { EUR: ["eu"] } }] },
    field: "edge-lb.json (routes[0].continent_pools.EUR)",
    says: /continent code/,
  },
  {
    name: "a method the balancer does not forward",
    doc: { pools: POOLS, routes: [{ match: { method: "TRACE" }, pools: ["eu"] }, { pools: ["us"] }] },
    field: "edge-lb.json (routes[0].match.method[0])",
    says: /GET, HEAD, POST/,
  },
  {
    name: "latitude without longitude",
    doc: { pools: [{ name: "eu", backends: backends(1), latitude: 50 }] },
    field: "edge-lb.json (pools[0].longitude)",
    says: /together/,
  },
];

describe("routes and pools that are refused, each naming the field", () => {
  it("has at least ten cases", () => expect(INVALID.length).toBeGreaterThanOrEqual(10));

  it.each(INVALID)("$name", ({ doc, field, says }) => {
    const problems = problemsOf(doc);
    const problem = problems.find((p) => p.field === field);
    expect(problem, `fields named: ${problems.map((p) => `${p.field}: ${p.expected}`).join("; ")}`).toBeDefined();
    expect(problem!.expected).toMatch(says);
  });
});

describe("a valid multi-pool config", () => {
  it("parses routes and steering, with defaults", () => {
    const config = load({
      pools: POOLS,
      routes: [
        { name: "api", match: { host: "api.example.com" }, pools: ["eu", "us"], fallback_pool: "static" },
        { match: { path_prefix: "/static" }, strip_prefix: true, pools: ["static"] },
        {
          pools: ["us", "eu"],
          steering: "geo",
          country_pools: { DE: ["eu", "us"] },
          continent_pools: { EU: ["eu"] },
        },
      ],
    });
    expect(config.pools.map((p) => [p.name, p.minimum_healthy, p.weight])).toEqual([
      ["eu", 2, 1],
      ["us", 1, 1],
      ["static", 1, 1],
    ]);
    expect(config.routes?.map((r) => r.steering)).toEqual(["failover", "failover", "geo"]);
    expect(config.location_headers.country).toBe("cf-ipcountry");
  });

  it("still lets the environment's one-pool shortcut fill the first pool", () => {
    const config = loadConfig({ env: { BACKENDS: "http://127.0.0.1:3031,http://127.0.0.1:3032" } });
    expect(config.pools).toHaveLength(1);
    expect(config.routes).toBeUndefined();
  });
});

describe("examples/", () => {
  it("every example config is valid", async () => {
    const { readdirSync, readFileSync } = await import("node:fs");
    const dir = new URL("../../examples/", import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const config = loadConfig({ json: { text: readFileSync(new URL(file, dir), "utf8"), label: file } });
      expect(config.pools.length, file).toBeGreaterThan(0);
    }
  });
});
