import { describe, expect, it } from "vitest";
import { createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { ADMIN_TOKEN, AUTH } from "./affinity-lb.ts";

/** Two pools that both have a backend named "shared"; routes without a catch-all. */
function twoPools() {
  const config = loadConfig({
    env: {
      ADMIN_TOKEN,
      LB_CONFIG: JSON.stringify({
        log_requests: false,
        pools: [
          {
            name: "blue",
            minimum_healthy: 2,
            backends: [
              { name: "shared", url: "http://shared-blue.test" },
              { name: "only-blue", url: "http://only-blue.test" },
            ],
          },
          { name: "green", backends: [{ name: "shared", url: "http://shared-green.test" }] },
        ],
        routes: [
          { name: "app", match: { host: "app.example.com" }, pools: ["blue", "green"] },
          { name: "green", match: { path_prefix: "/green" }, strip_prefix: true, pools: ["green"] },
        ],
      }),
    },
  });
  return createBalancer(config, {
    store: new MemoryStore(),
    clientIp: () => "198.51.100.7",
    log: () => undefined,
    fetch: async (input) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      return new Response(url.pathname, { headers: { "x-upstream": url.hostname } });
    },
  });
}

const post = (lb: ReturnType<typeof twoPools>, path: string, body?: string) =>
  lb.fetch(
    new Request(`http://lb.test${path}`, {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      ...(body ? { body } : {}),
    }),
  );

describe("admin routes with several pools", () => {
  it("acts on a backend of a named pool, and refuses a name two pools share without one", async () => {
    const lb = twoPools();
    const ambiguous = await post(lb, "/_lb/backends/shared/disable");
    expect(ambiguous.status).toBe(409);
    expect(await ambiguous.json()).toMatchObject({
      error: "ambiguous_backend",
      reason: expect.stringMatching(/blue, green/),
    });

    const green = await post(lb, "/_lb/pools/green/backends/shared/disable");
    expect(await green.json()).toEqual({ pool: "green", backend: "shared", admin: "disabled" });
    const [blue, greenPool] = lb.pools;
    expect(greenPool!.state.snapshot.backends.shared?.admin).toBe("disabled");
    expect(blue!.state.snapshot.backends.shared?.admin).toBeUndefined();

    const weight = await post(lb, "/_lb/pools/blue/backends/shared/weight", '{"weight": 4}');
    expect(await weight.json()).toEqual({ pool: "blue", backend: "shared", weight: 4, configured_weight: 1 });
    expect((await post(lb, "/_lb/backends/only-blue/drain")).status).toBe(200);
    expect((await post(lb, "/_lb/pools/red/backends/shared/drain")).status).toBe(404);
    expect((await post(lb, "/_lb/pools/green/backends/only-blue/drain")).status).toBe(404);
  });

  it("answers 404 no_route for a request no route matches, and strips a route's prefix", async () => {
    const lb = twoPools();
    const missed = await lb.fetch(new Request("http://other.example.com/"));
    expect(missed.status).toBe(404);
    expect(await missed.json()).toEqual({
      error: "no_route",
      reason: "no route matches this request's host, path, method and headers",
      request_id: missed.headers.get("x-request-id"),
    });
    const green = await lb.fetch(new Request("http://other.example.com/green/a?b=1"));
    expect(await green.text()).toBe("/a");
  });

  it("shows routes and each pool against its minimum in status and metrics", async () => {
    const lb = twoPools();
    expect((await lb.fetch(new Request("http://app.example.com/"))).headers.get("x-upstream")).toMatch(/blue/);
    await post(lb, "/_lb/pools/blue/backends/only-blue/disable");
    expect((await lb.fetch(new Request("http://app.example.com/"))).headers.get("x-upstream")).toBe(
      "shared-green.test",
    );
    const status = (await (await lb.fetch(new Request("http://lb.test/_lb/status", { headers: AUTH }))).json()) as {
      routes: { name: string; steering: string; pools: string[] }[];
      pools: { name: string; usable_backends: number; minimum_healthy: number; healthy: boolean }[];
    };
    expect(status.routes.map((r) => [r.name, r.steering, r.pools])).toEqual([
      ["app", "failover", ["blue", "green"]],
      ["green", "failover", ["green"]],
    ]);
    expect(status.pools.map((p) => [p.name, p.usable_backends, p.minimum_healthy, p.healthy])).toEqual([
      ["blue", 1, 2, false],
      ["green", 1, 1, true],
    ]);
    const metrics = await (await lb.fetch(new Request("http://lb.test/_lb/metrics", { headers: AUTH }))).text();
    expect(metrics).toContain('edge_lb_pool_healthy{pool="blue"} 0');
    expect(metrics).toContain('edge_lb_pool_healthy{pool="green"} 1');
    expect(metrics).toContain('edge_lb_steered_requests_total{route="app",pool="blue",by="preferred"} 1');
    expect(metrics).toContain('edge_lb_steered_requests_total{route="app",pool="green",by="failover"} 1');
  });
});
