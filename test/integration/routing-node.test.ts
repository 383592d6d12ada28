// Several pools behind the Node CLI: host and path routing, ip-hash and least-connections pools
// side by side, geo from a trusted proxy's CF-IPCountry, proximity, random and least-outstanding
// steering, and failover on health with minimum_healthy, the fallback pool and the log lines.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type RunningLb, startNodeLb } from "../support/node-lb.ts";
import {
  type Answer,
  hostRequest,
  POOL_MEMBERS,
  poolOf,
  routingConfig,
  startPoolUpstreams,
  tallyOf,
} from "../support/routing-fleet.ts";

let upstreams: Record<string, Upstream>;
let lb: RunningLb;
let dir: string;
/** 127.0.0.1 reaches the balancer as a trusted proxy; ::1 as an ordinary client. */
let trusted: string;
let untrusted: string;

beforeAll(async () => {
  upstreams = await startPoolUpstreams();
  dir = mkdtempSync(join(tmpdir(), "edge-lb-routing-"));
  const file = join(dir, "edge-lb.json");
  writeFileSync(file, JSON.stringify(routingConfig(upstreams, { trust_proxy: ["127.0.0.1/32"] })));
  // Flags win over the file: "::" takes both 127.0.0.1 (as ::ffff:127.0.0.1) and ::1.
  lb = await startNodeLb(["--config", file, "--host=::"]);
  const port = new URL(lb.url).port;
  trusted = `http://127.0.0.1:${port}`;
  untrusted = `http://[::1]:${port}`;
});

afterAll(async () => {
  await lb?.stop();
  await Promise.all(Object.values(upstreams ?? {}).map((u) => u.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function sequential(count: number, send: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i++) answers.push(await send(i));
  return answers;
}

/** Every answer came from `pool`, and its members answered in strict turn. */
function expectExactRotation(answers: readonly Answer[], pool: keyof typeof POOL_MEMBERS) {
  const members = POOL_MEMBERS[pool];
  expect(answers.every((a) => a.status === 200 && poolOf(a.upstream) === pool)).toBe(true);
  const start = members.indexOf(answers[0]!.upstream as never);
  expect(answers.map((a) => a.upstream)).toEqual(answers.map((_, i) => members[(start + i) % members.length]));
}

describe("routing on the Node CLI", () => {
  it("sends api.example.com to api, /static/ to static without the prefix, the rest to the default", async () => {
    const api = await sequential(300, (i) => hostRequest(trusted, "api.example.com", `/v1/items/${i}`));
    expectExactRotation(api, "api");
    const before = upstreams.static1!.received.length + upstreams.static2!.received.length;
    const statics = await sequential(300, (i) => hostRequest(trusted, "www.example.com", `/static/app-${i}.js?v=1`));
    expectExactRotation(statics, "static");
    const seen = [...upstreams.static1!.received, ...upstreams.static2!.received].map((r) => r.target);
    expect(seen).toHaveLength(before + 300);
    expect(seen).toContain("/app-7.js?v=1");
    expect(seen.some((target) => target.startsWith("/static"))).toBe(false);
    expect((await hostRequest(trusted, "x.test", "/static")).upstream).toMatch(/^static/);
    const rest = await sequential(300, (i) => hostRequest(trusted, "www.example.com", `/staticky/${i}`));
    expectExactRotation(rest, "web");
  });

  it("keeps each pool's own algorithm: ip-hash by header in one, least-connections in another", async () => {
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const first = await Promise.all(users.map((u) => hostRequest(trusted, "x.test", "/sticky", { "x-user": u })));
    const again = await Promise.all(users.map((u) => hostRequest(trusted, "x.test", "/sticky/b", { "x-user": u })));
    expect(again.map((a) => a.upstream)).toEqual(first.map((a) => a.upstream));
    expect(new Set(first.map((a) => poolOf(a.upstream)))).toEqual(new Set(["sticky"]));
    expect(new Set(first.map((a) => a.upstream)).size).toBeGreaterThan(1);

    // lc1 is slow, lc2 quick: least connections keeps lc1 to the requests it holds at once,
    // where round robin would give it half of them.
    upstreams.lc1!.mode = { kind: "delay", ms: 1_000 };
    const before = upstreams.lc1!.started;
    const answers: Answer[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (answers.length < 40) answers.push(await hostRequest(trusted, "x.test", "/lc"));
      }),
    );
    upstreams.lc1!.mode = { kind: "ok" };
    expect(answers.every((a) => a.status === 200 && poolOf(a.upstream) === "lc")).toBe(true);
    expect(upstreams.lc1!.started - before).toBeLessThanOrEqual(4);
  });

  it("steers geo by CF-IPCountry from a trusted proxy, and ignores it from anyone else", async () => {
    const from = (base: string, country?: string) =>
      hostRequest(base, "geo.test", "/", country ? { "cf-ipcountry": country } : {});
    expect(poolOf((await from(trusted, "DE")).upstream)).toBe("eu");
    expect(poolOf((await from(trusted, "US")).upstream)).toBe("us");
    expect(poolOf((await from(trusted, "BR")).upstream)).toBe("web");
    expect(poolOf((await from(trusted, "JP")).upstream)).toBe("web");
    expect(poolOf((await hostRequest(trusted, "geo.test", "/", { "cf-ipcontinent": "AS" })).upstream)).toBe("ap");
    expect(poolOf((await from(trusted)).upstream)).toBe("web");
    expect(poolOf((await from(untrusted, "DE")).upstream)).toBe("web");
    expect(poolOf((await from(untrusted, "US")).upstream)).toBe("web");
  });

  it("sends each client to the nearest pool by its coordinates", async () => {
    const at = (lat: number, lon: number) =>
      hostRequest(trusted, "near.test", "/", { "cf-iplatitude": String(lat), "cf-iplongitude": String(lon) });
    expect(poolOf((await at(48.85, 2.35)).upstream)).toBe("eu"); // Paris
    expect(poolOf((await at(40.71, -74.0)).upstream)).toBe("us"); // New York
    expect(poolOf((await at(35.68, 139.69)).upstream)).toBe("ap"); // Tokyo
    expect(poolOf((await hostRequest(trusted, "near.test", "/")).upstream)).toBe("us"); // unknown: route order
  });

  it("random steering honours pool weights 3:1 over 4,000 requests within 3 points", async () => {
    const answers: Answer[] = [];
    let sent = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (sent++ < 4_000) answers.push(await hostRequest(trusted, "random.test", "/"));
      }),
    );
    const counts = tallyOf(answers.map((a) => poolOf(a.upstream)));
    expect(counts.heavy! + counts.light!).toBe(4_000);
    expect(Math.abs(counts.heavy! / 4_000 - 0.75)).toBeLessThan(0.03);
  });

  it("least-outstanding sends new requests away from a pool holding 20 slow requests", async () => {
    // slow1 holds every request it gets until its port is closed.
    const slow1 = upstreams.slow1!;
    slow1.mode = { kind: "hang" };
    const startedBefore = slow1.started;
    const quickBefore = upstreams.quick1!.received.length;
    const held = Array.from({ length: 20 }, () => hostRequest(trusted, "slow.test", "/"));
    await until(() => slow1.started - startedBefore >= 20);
    // One at a time: each is steered once the previous one has finished or is held by slow1.
    const steered: Promise<Answer>[] = [];
    for (let i = 0; i < 100; i++) {
      const slowBefore = slow1.started;
      let answered = false;
      const answer = hostRequest(trusted, "lor.test", "/").finally(() => {
        answered = true;
      });
      steered.push(answer);
      await until(() => answered || slow1.started > slowBefore);
    }
    const toQuick = upstreams.quick1!.received.length - quickBefore;
    // Expected share of the slow pool: (1/21) / (1/21 + 1) = 4.5%, less as its own requests add up.
    expect(toQuick).toBeGreaterThanOrEqual(88);
    await slow1.close();
    await Promise.all([...held, ...steered]);
    slow1.mode = { kind: "ok" };
    await slow1.reopen();
  });

  it("fails over when eu falls below its minimum, comes back, and uses the fallback pool when all are down", async () => {
    const failover = () => hostRequest(trusted, "failover.test", "/");
    expect(new Set((await sequential(9, failover)).map((a) => poolOf(a.upstream)))).toEqual(new Set(["eu"]));

    // Two of eu's three stop: 1 of 3 is below minimum_healthy 2.
    await Promise.all([upstreams.eu1!.close(), upstreams.eu2!.close()]);
    const stoppedAt = Date.now();
    await until(async () => poolOf((await failover()).upstream) === "us");
    const tookMs = Date.now() - stoppedAt;
    // One health interval (1 s), plus the timer's quarter-interval tick and the probe itself.
    expect(tookMs).toBeLessThan(1_250 + 500);
    expect(new Set((await sequential(30, failover)).map((a) => poolOf(a.upstream)))).toEqual(new Set(["us"]));

    await Promise.all([upstreams.eu1!.reopen(), upstreams.eu2!.reopen()]);
    await until(async () => poolOf((await failover()).upstream) === "eu");
    expect(new Set((await sequential(30, failover)).map((a) => poolOf(a.upstream)))).toEqual(new Set(["eu"]));

    const all = [upstreams.eu1!, upstreams.eu2!, upstreams.eu3!, upstreams.us1!, upstreams.us2!];
    await Promise.all(all.map((u) => u.close()));
    await until(async () => poolOf((await failover()).upstream) === "fallback");
    expect(new Set((await sequential(10, failover)).map((a) => poolOf(a.upstream)))).toEqual(new Set(["fallback"]));
    await Promise.all(all.map((u) => u.reopen()));
    await until(async () => poolOf((await failover()).upstream) === "eu");

    // Log lines reach stdout within 20 ms of being logged (the batched writer): polled.
    await expect.poll(() => lb.stdout.join("\n")).toMatch(/pool eu \[up\] \([23] of 3 healthy/);
    const lines = lb.stdout.join("\n");
    expect(lines).toMatch(/pool eu \[down\] \(1 of 3 healthy, minimum 2\) -> failover to us \(route failover\)/);
    expect(lines).toMatch(
      /pool eu \[up\] \([23] of 3 healthy, minimum 2\) -> traffic returns to eu \(route failover\)/,
    );
    expect(lines).toMatch(
      /pool us \[down\] \(0 of 2 healthy, minimum 1\) -> fallback pool fallback \(route failover\)/,
    );
  });
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
