// One black-box suite, run against every runtime the balancer ships for: workerd (miniflare),
// Node, Bun and Deno, the last three as real child processes started as `npm run lb*` does.
// Only HTTP is observed: which upstream answered (x-upstream), statuses, JSON error bodies.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type LbTarget, RUNTIMES } from "../support/lb-targets.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";

/** Sends `count` GETs one after another (so the rotation order is the request order). */
async function sequential(target: LbTarget, count: number, init?: (i: number) => RequestInit): Promise<Response[]> {
  const responses: Response[] = [];
  for (let i = 0; i < count; i++) {
    const response = await target.fetch(`/c/${i}`, init?.(i));
    await response.arrayBuffer();
    responses.push(response);
  }
  return responses;
}

describe.each(RUNTIMES)("conformance on $name", (runtime) => {
  let upstreams: Upstream[]; // a, b, c: round robin, body, failover, none left
  let weightedUpstreams: Upstream[];
  let hashUpstreams: Upstream[];
  let roundRobin: LbTarget;
  let weighted: LbTarget;
  let ipHash: LbTarget;

  beforeAll(async () => {
    [upstreams, weightedUpstreams, hashUpstreams] = await Promise.all([
      startUpstreams(["a", "b", "c"]),
      startUpstreams(["heavy", "light1", "light2"]),
      startUpstreams(["h1", "h2", "h3"]),
    ]);
    const [heavy, light1, light2] = weightedUpstreams;
    [roundRobin, weighted, ipHash] = await Promise.all([
      runtime.start({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin" }),
      runtime.start({
        BACKENDS: `${heavy!.url}|weight=5,${light1!.url},${light2!.url}`,
        ALGORITHM: "weighted-round-robin",
      }),
      runtime.start({ BACKENDS: backendsOf(hashUpstreams), ALGORITHM: "ip-hash", ...runtime.ipHash.settings }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([roundRobin?.stop(), weighted?.stop(), ipHash?.stop()]);
    await Promise.all(
      [...(upstreams ?? []), ...(weightedUpstreams ?? []), ...(hashUpstreams ?? [])].map((u) => u.close()),
    );
  });

  it("round robin: 300 sequential GETs land exactly 100/100/100", async () => {
    const responses = await sequential(roundRobin, 300);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(tally(responses)).toEqual({ a: 100, b: 100, c: 100 });
    // And in rotation: every window of three saw each upstream once.
    const order = responses.map((r) => r.headers.get("x-upstream"));
    for (let i = 0; i + 3 <= order.length; i += 3) expect(new Set(order.slice(i, i + 3)).size).toBe(3);
  });

  it("weighted round robin 5:1:1: 700 sequential GETs land exactly 500/100/100", async () => {
    const responses = await sequential(weighted, 700);
    expect(tally(responses)).toEqual({ heavy: 500, light1: 100, light2: 100 });
  });

  it("ip-hash: each client keeps its backend, and different clients spread over all of them", async () => {
    // Backend names carry the upstreams' free ports, so the table differs per run: 120 clients
    // keep "spread over all" far from chance (mean 40 each; 24 is more than 3 sd below it).
    const clients = Array.from({ length: 120 }, (_, i) => i + 1);
    const first = new Map<number, string | null>();
    for (let round = 0; round < 2; round++) {
      for (const id of clients) {
        const response = await ipHash.fetch(`/h/${round}`, { headers: runtime.ipHash.client(id) });
        await response.arrayBuffer();
        expect(response.status).toBe(200);
        const backend = response.headers.get("x-upstream");
        if (round === 0) first.set(id, backend);
        else expect(backend, `client ${id}, round ${round}`).toBe(first.get(id));
      }
    }
    const perBackend: Record<string, number> = {};
    for (const name of first.values()) perBackend[name ?? "none"] = (perBackend[name ?? "none"] ?? 0) + 1;
    expect(Object.keys(perBackend).sort()).toEqual(["h1", "h2", "h3"]);
    for (const count of Object.values(perBackend)) expect(count).toBeGreaterThanOrEqual(24);
  });

  it("ip-hash by address: a client without the key sticks to one backend by its own address", async () => {
    const responses = await sequential(ipHash, 30);
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(Object.keys(tally(responses))).toHaveLength(1);
  });

  it("delivers a 1 MB random POST body byte-identical", async () => {
    const body = randomBytes(1024 * 1024);
    const response = await roundRobin.fetch("/echo", {
      method: "POST",
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(response.status).toBe(200);
    const echo = (await response.json()) as { method: string; bodyLength: number; bodySha256: string };
    expect(echo.method).toBe("POST");
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
  });

  it("fails over: with one upstream's port closed, every GET succeeds on the others", async () => {
    await upstreams[1]!.close();
    const responses = await sequential(roundRobin, 30);
    expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
    const counts = tally(responses);
    expect(counts["b"]).toBeUndefined();
    expect((counts["a"] ?? 0) + (counts["c"] ?? 0)).toBe(30);
  });

  // Nothing black-box can drain or disable a backend yet (no admin API), so "none left" is
  // every upstream's port closed: a JSON 502 naming what failed (503 no_backend is for a pool
  // whose backends are all drained or disabled).
  it("answers a JSON error with a reason when no upstream is left", async () => {
    await Promise.all([upstreams[0]!.close(), upstreams[2]!.close()]);
    for (const path of ["/", "/none/left"]) {
      const response = await roundRobin.fetch(path);
      expect(response.status).toBe(502);
      expect(response.headers.get("content-type")).toMatch(/application\/json/);
      const body = (await response.json()) as { error: string; reason: string };
      expect(["upstream_unreachable", "upstream_connection_failed"]).toContain(body.error);
      // What happened, never where: no backend URL, host, port or system error.
      expect(body.reason.length).toBeGreaterThan(0);
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|localhost|:\d{2,5}\b|ECONNREFUSED|fetch failed/);
    }
  });

  it("refuses a bad config, naming the field and the value", async () => {
    const refusal = await runtime.refuse({ BACKENDS: "http://127.0.0.1:9", ALGORITHM: "fastest-first" });
    expect(refusal.refused).toBe(true);
    expect(refusal.text).toContain(runtime.fieldName("ALGORITHM"));
    expect(refusal.text).toContain("fastest-first");
    const badUrl = await runtime.refuse({ BACKENDS: "http://127.0.0.1:9,ftp://files.example:21" });
    expect(badUrl.refused).toBe(true);
    expect(badUrl.text).toContain(runtime.fieldName("BACKENDS"));
    expect(badUrl.text).toContain("ftp://files.example:21");
  });
});
