// RequestRouting's remembered failover decision: while the pools it read stand as they did, the
// decision is reused without building standings; any change in their usable backends decides
// afresh, with the transition logged once and every request counted under how it was steered.
import { describe, expect, it } from "vitest";
import { createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";

function failoverRoute() {
  const lines: string[] = [];
  const config = loadConfig({
    env: {
      LB_CONFIG: JSON.stringify({
        log_requests: false,
        pools: [
          {
            name: "eu",
            minimum_healthy: 2,
            backends: [
              { name: "eu1", url: "http://eu1.test" },
              { name: "eu2", url: "http://eu2.test" },
            ],
          },
          { name: "us", backends: [{ name: "us1", url: "http://us1.test" }] },
          { name: "spare", backends: [{ name: "spare1", url: "http://spare1.test" }] },
        ],
        routes: [{ name: "api", pools: ["eu", "us"], fallback_pool: "spare" }],
      }),
    },
  });
  const lb = createBalancer(config, {
    store: new MemoryStore(),
    clientIp: () => "198.51.100.7",
    log: (line) => lines.push(line),
    fetch: async () => new Response("ok"),
  });
  const routeOnce = async () => {
    const routed = await lb.routing.resolve({
      method: "GET",
      host: "api.example.com",
      target: "/",
      headers: new Headers(),
      client: undefined,
      locate: () => ({}),
      defer: (work) => void work.catch(() => undefined),
    });
    return routed!.pool.spec.name;
  };
  const routeMany = async (n: number) => {
    const pools = new Set<string>();
    for (let i = 0; i < n; i++) pools.add(await routeOnce());
    return [...pools];
  };
  const [eu, us] = lb.pools;
  const mark = (pool: typeof eu, backend: string, healthy: boolean) =>
    pool!.state.write(backend, { health: healthy ? "up" : "down" });
  return { lb, lines, routeMany, eu: eu!, us: us!, mark };
}

describe("a failover route's remembered decision", () => {
  it("keeps steering to the preferred pool, counting every request, until a pool read changes", async () => {
    const { lb, lines, routeMany, eu, us, mark } = failoverRoute();
    expect(await routeMany(50)).toEqual(["eu"]);
    expect(lb.routing.steered.get("api\u0000eu\u0000preferred")).toBe(50);
    expect(lines.filter((l) => l.startsWith("pool "))).toEqual([]);

    await mark(eu, "eu2", false);
    expect(await routeMany(20)).toEqual(["us"]);
    expect(lb.routing.steered.get("api\u0000us\u0000failover")).toBe(20);
    expect(lines.filter((l) => l.startsWith("pool "))).toEqual([
      "pool eu [down] (1 of 2 healthy, minimum 2) -> failover to us",
    ]);

    // us goes too: the decision read both pools, so a change in the second is seen at once.
    await mark(us, "us1", false);
    expect(await routeMany(10)).toEqual(["spare"]);
    expect(lb.routing.steered.get("api\u0000spare\u0000fallback")).toBe(10);

    await mark(eu, "eu2", true);
    expect(await routeMany(10)).toEqual(["eu"]);
    expect(lb.routing.steered.get("api\u0000eu\u0000preferred")).toBe(60);
    expect(lines.filter((l) => l.startsWith("pool "))).toEqual([
      "pool eu [down] (1 of 2 healthy, minimum 2) -> failover to us",
      "pool us [down] (0 of 1 healthy, minimum 1) -> fallback pool spare",
      "pool eu [up] (2 of 2 healthy, minimum 2) -> traffic returns to eu",
    ]);
  });

  it("reads a pool after the preferred one only once the preferred one fails", async () => {
    const { routeMany, eu, us, mark } = failoverRoute();
    expect(await routeMany(5)).toEqual(["eu"]);
    const ready = us.state.ready.bind(us.state);
    let asked = 0;
    us.state.ready = (defer) => {
      asked++;
      return ready(defer);
    };
    expect(await routeMany(5)).toEqual(["eu"]);
    // Not read while eu is healthy: routing asks nothing of us's view.
    expect(asked).toBe(0);
    await mark(eu, "eu1", false);
    expect(await routeMany(5)).toEqual(["us"]);
    // Asked once, deciding afresh; after that, as the chosen pool, the proxy asks for its view.
    expect(asked).toBe(1);
  });
});
