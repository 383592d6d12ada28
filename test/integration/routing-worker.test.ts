// Several pools on workerd (miniflare): host and path routing with exact rotation per pool, geo
// and proximity from request.cf set per request, 404 no_route, and three instances sharing Redis
// that agree on a failover within one sync interval.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { describeWithRedis, startUpstashStack, type UpstashStack } from "../support/redis.ts";
import { POOL_MEMBERS, poolOf, routingConfig, startPoolUpstreams } from "../support/routing-fleet.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "../support/worker.ts";

let upstreams: Record<string, Upstream>;

beforeAll(async () => {
  upstreams = await startPoolUpstreams();
});

afterAll(async () => {
  await Promise.all(Object.values(upstreams ?? {}).map((u) => u.close()));
});

/** A request to `host` through miniflare's entry, with request.cf as the edge would set it. */
function send(worker: WorkerInstance, host: string, path: string, cf: Record<string, unknown> = {}) {
  return worker.mf.dispatchFetch(`http://${host}${path}`, {
    headers: { "cf-connecting-ip": "203.0.113.7" },
    cf,
  } as never) as unknown as Promise<Response>;
}

async function upstreamOf(response: Promise<Response>): Promise<string | null> {
  const answer = await response;
  await answer.arrayBuffer();
  return answer.headers.get("x-upstream");
}

describe("routing on workerd", () => {
  let worker: WorkerInstance;

  beforeAll(async () => {
    const config = routingConfig(upstreams);
    // Without the catch-all, so a request no route matches gets 404.
    config.routes = config.routes.filter((r) => r.name !== "default");
    worker = await startWorker({ LB_CONFIG: JSON.stringify(config) });
  });
  afterAll(async () => {
    await worker?.dispose();
  });

  it("routes by host and by path (stripped), round robin exact inside each pool", async () => {
    const run = async (host: string, path: (i: number) => string, pool: keyof typeof POOL_MEMBERS) => {
      const names: (string | null)[] = [];
      for (let i = 0; i < 300; i++) names.push(await upstreamOf(send(worker, host, path(i))));
      const members = POOL_MEMBERS[pool] as readonly (string | null)[];
      const start = members.indexOf(names[0]!);
      expect(start).toBeGreaterThanOrEqual(0);
      expect(names).toEqual(names.map((_, i) => members[(start + i) % members.length]));
    };
    await run("api.example.com", (i) => `/v1/${i}`, "api");
    const before = upstreams.static1!.received.length;
    await run("www.example.com", (i) => `/static/img/${i}.png`, "static");
    const targets = upstreams.static1!.received.slice(before).map((r) => r.target);
    expect(targets.length).toBe(150);
    expect(targets.every((t) => /^\/img\/\d+\.png$/.test(t))).toBe(true);
  });

  it("answers 404 no_route when no route matches", async () => {
    const response = await send(worker, "www.example.com", "/nothing-here");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: "no_route" });
  });

  it("steers geo by cf.country and cf.continent", async () => {
    expect(poolOf(await upstreamOf(send(worker, "geo.test", "/", { country: "DE", continent: "EU" })))).toBe("eu");
    expect(poolOf(await upstreamOf(send(worker, "geo.test", "/", { country: "US", continent: "NA" })))).toBe("us");
    expect(poolOf(await upstreamOf(send(worker, "geo.test", "/", { country: "BR", continent: "SA" })))).toBe("web");
    expect(poolOf(await upstreamOf(send(worker, "geo.test", "/", { country: "JP", continent: "AS" })))).toBe("ap");
    // On Workers the location comes from the edge, never from a header a client wrote.
    const spoofed = worker.mf.dispatchFetch("http://geo.test/", {
      headers: { "cf-connecting-ip": "203.0.113.7", "cf-ipcountry": "DE" },
      cf: { country: "BR", continent: "SA" },
    } as never) as unknown as Promise<Response>;
    expect(poolOf(await upstreamOf(spoofed))).toBe("web");
  });

  it("steers proximity by cf.latitude and cf.longitude", async () => {
    const at = (latitude: string, longitude: string) => send(worker, "near.test", "/", { latitude, longitude });
    expect(poolOf(await upstreamOf(at("48.85", "2.35")))).toBe("eu");
    expect(poolOf(await upstreamOf(at("40.71", "-74.00")))).toBe("us");
    expect(poolOf(await upstreamOf(at("35.68", "139.69")))).toBe("ap");
  });
});

describeWithRedis("three instances sharing Redis", () => {
  let stack: UpstashStack;
  let workers: WorkerInstance[];
  const SYNC_INTERVAL_MS = 500;

  beforeAll(async () => {
    stack = await startUpstashStack();
    const config = routingConfig(upstreams);
    workers = await Promise.all(
      Array.from({ length: 3 }, () =>
        startWorker({
          LB_CONFIG: JSON.stringify(config),
          STATE: "upstash",
          STATE_PREFIX: "routing",
          UPSTASH_REDIS_REST_URL: stack.upstash.url,
          UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
          SYNC_INTERVAL_MS: String(SYNC_INTERVAL_MS),
          ADMIN_TOKEN,
        }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all((workers ?? []).map((w) => w.dispose()));
    await stack?.stop();
  });

  it("agree on the failover within one sync interval", async () => {
    const failover = (w: WorkerInstance) => upstreamOf(send(w, "failover.test", "/"));
    for (const w of workers) expect(poolOf(await failover(w))).toBe("eu");

    // Two of eu's three are disabled through one instance: the others learn it from the store.
    for (const name of ["eu1", "eu2"]) {
      const response = await workers[0]!.fetch(`/_lb/pools/eu/backends/${name}/disable`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(response.status).toBe(200);
    }
    const disabledAt = Date.now();
    const lastEuAt = [0, 0, 0];
    // Every instance keeps serving; none may answer from eu past one sync interval (plus the
    // request that carries the sync and its store round trip).
    while (Date.now() - disabledAt < SYNC_INTERVAL_MS * 3) {
      const pools = await Promise.all(workers.map(async (w) => poolOf(await failover(w))));
      pools.forEach((pool, i) => {
        if (pool === "eu") lastEuAt[i] = Date.now() - disabledAt;
        else expect(pool).toBe("us");
      });
    }
    expect(Math.max(...lastEuAt)).toBeLessThan(SYNC_INTERVAL_MS + 250);
    const logs = workers.flatMap((w) => w.logs).join("\n");
    expect(logs).toMatch(/pool eu \[down\] \(1 of 3 healthy, minimum 2\) -> failover to us/);
  });
});
