// Micro-benchmark of routing: CPU time of one request's route-and-steer step (RequestRouting.resolve,
// as createBalancer runs it) with ten routes over three pools, the request matching only the last
// route and steering between two pools, against the one-pool config that skips routing. Measured
// as process CPU time (process.cpuUsage), not wall time, so other load on the machine moves it
// little; the `<runtime>-rr-memory-routes` rows show the same cost end to end.
import { createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { routedConfig } from "./routing-config.ts";

export interface RoutingCost {
  /** CPU µs per request with one pool and no routes. */
  readonly onePoolUs: number;
  /** CPU µs per request with routedConfig: ten routes, three pools. */
  readonly tenRoutesUs: number;
}

const UPSTREAMS = ["http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"];

async function costOf(config: ReturnType<typeof loadConfig>, iterations: number): Promise<number> {
  const balancer = createBalancer(config, { store: new MemoryStore(), clientIp: () => "127.0.0.1", log: () => {} });
  const headers = new Headers({ "user-agent": "bench", accept: "*/*" });
  const input = {
    method: "GET",
    host: "127.0.0.1:3000",
    target: "/",
    headers,
    client: undefined,
    locate: () => ({}),
    defer: (work: Promise<unknown>) => void work.catch(() => undefined),
  };
  await balancer.routing.resolve(input); // warms every pool's view
  const run = (n: number) => {
    for (let i = 0; i < n; i++) balancer.routing.resolve(input);
  };
  run(iterations / 10);
  const best: number[] = [];
  for (let round = 0; round < 3; round++) {
    const before = process.cpuUsage();
    run(iterations);
    const used = process.cpuUsage(before);
    best.push((used.user + used.system) / iterations);
  }
  await balancer.flush();
  return Math.min(...best);
}

export async function measureRoutingCost(iterations = 200_000): Promise<RoutingCost> {
  const onePool = loadConfig({ flags: { backends: UPSTREAMS.join(","), "log-requests": "false" } });
  const routed = loadConfig({ json: { text: JSON.stringify(routedConfig(UPSTREAMS)), label: "routing-config" } });
  return { onePoolUs: await costOf(onePool, iterations), tenRoutesUs: await costOf(routed, iterations) };
}
