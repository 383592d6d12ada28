import { beforeEach, describe, expect, it } from "vitest";
import { signSession } from "../../src/admin/session.ts";
import { parseWeightBody, WEIGHT_BODY_LIMIT } from "../../src/admin/weight-route.ts";
import { type Balancer, createBalancer } from "../../src/app.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import type { BackendPatch } from "../../src/state/types.ts";

const ADMIN_TOKEN = "unit-admin-token-0123456789";
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const BACKENDS = ["a", "b", "c"].map((name) => `http://${name}.test:80|name=${name}`).join(",");

/** A memory store that can be told to refuse writes, as an unreachable store would. */
class FlakyStore extends MemoryStore {
  failing = false;
  override async setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    if (this.failing) throw new Error("store down");
    return super.setBackend(pool, backend, patch);
  }
}

describe("parseWeightBody", () => {
  it("accepts an integer from 0 to 1000", () => {
    expect(parseWeightBody('{"weight": 0}')).toEqual({ ok: true, weight: 0 });
    expect(parseWeightBody('{ "weight": 1000 }')).toEqual({ ok: true, weight: 1000 });
    expect(parseWeightBody('{"weight":3}')).toEqual({ ok: true, weight: 3 });
  });

  it.each([
    ["1001", { field: "weight", value: 1001 }],
    ["-1", { field: "weight", value: -1 }],
    ["1.5", { field: "weight", value: 1.5 }],
    ['"3"', { field: "weight", value: "3" }],
    ["null", { field: "weight", value: null }],
    ["true", { field: "weight", value: true }],
  ])("refuses weight %s, naming the field, the value and the range", (weight, named) => {
    expect(parseWeightBody(`{"weight": ${weight}}`)).toEqual({
      ok: false,
      refusal: { ...named, expected: "an integer from 0 to 1000" },
    });
  });

  it("refuses a missing weight, another field, and anything but a JSON object", () => {
    expect(parseWeightBody("{}")).toEqual({
      ok: false,
      refusal: { field: "weight", expected: "an integer from 0 to 1000" },
    });
    expect(parseWeightBody('{"weight": 3, "seconds": 30}')).toMatchObject({
      ok: false,
      refusal: { field: "seconds", value: 30 },
    });
    for (const text of ["", "3", "[3]", "weight=3", '{"weight": 3'])
      expect(parseWeightBody(text)).toMatchObject({ ok: false, refusal: { field: "body" } });
  });
});

describe("POST /_lb/backends/:name/weight", () => {
  let store: FlakyStore;
  let balancer: Balancer;
  const upstreamHits: string[] = [];

  beforeEach(() => {
    store = new FlakyStore();
    upstreamHits.length = 0;
    const config = loadConfig({
      env: { ADMIN_TOKEN },
      flags: { backends: BACKENDS, algorithm: "weighted-round-robin", "log-requests": "false" },
    });
    balancer = createBalancer(config, {
      store,
      clientIp: () => "198.51.100.7",
      log: () => undefined,
      fetch: async (input) => {
        upstreamHits.push(new URL(input instanceof Request ? input.url : String(input)).hostname.split(".")[0]!);
        return new Response("ok");
      },
    });
  });

  const post = (name: string, body: BodyInit | undefined, headers: Record<string, string> = AUTH) =>
    balancer.fetch(
      new Request(`http://lb.test/_lb/backends/${encodeURIComponent(name)}/weight`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body,
      }),
    );
  const status = async () => {
    const response = await balancer.fetch(new Request("http://lb.test/_lb/status", { headers: AUTH }));
    const json = (await response.json()) as {
      pools: { backends: { name: string; weight: number; configured_weight: number }[] }[];
    };
    return Object.fromEntries(json.pools[0]!.backends.map((b) => [b.name, [b.weight, b.configured_weight]]));
  };

  it("stores the weight and answers with it; status and metrics show current and configured", async () => {
    const answer = await post("a", JSON.stringify({ weight: 3 }));
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ pool: "default", backend: "a", weight: 3, configured_weight: 1 });
    expect((await post("c", '{"weight":0}')).status).toBe(200);
    expect(await status()).toEqual({ a: [3, 1], b: [1, 1], c: [0, 1] });

    const metrics = await (await balancer.fetch(new Request("http://lb.test/_lb/metrics", { headers: AUTH }))).text();
    expect(metrics).toContain('edge_lb_backend_weight{pool="default",backend="a"} 3');
    expect(metrics).toContain('edge_lb_backend_weight{pool="default",backend="c"} 0');
    expect(metrics).toContain('edge_lb_backend_configured_weight{pool="default",backend="a"} 1');
    expect(metrics).toContain('edge_lb_backend_configured_weight{pool="default",backend="c"} 1');
  });

  it("sends new traffic 3:1:0 at once on the instance that took the change", async () => {
    await post("a", '{"weight": 3}');
    await post("c", '{"weight": 0}');
    for (let i = 0; i < 400; i++) await (await balancer.fetch(new Request(`http://lb.test/r/${i}`))).text();
    const counts = Object.fromEntries(["a", "b", "c"].map((n) => [n, upstreamHits.filter((h) => h === n).length]));
    expect(counts).toEqual({ a: 300, b: 100, c: 0 });
  });

  it("answers 400 JSON naming the field, the value and what was expected, and stores nothing", async () => {
    const response = await post("a", '{"weight": 1001}');
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({
      error: "bad_request",
      reason: "weight: got 1001, expected an integer from 0 to 1000",
      field: "weight",
      value: 1001,
      expected: "an integer from 0 to 1000",
    });
    const empty = await post("a", undefined);
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ field: "body" });
    expect(await status()).toEqual({ a: [1, 1], b: [1, 1], c: [1, 1] });
  });

  it("refuses a body over the limit with 413 and an unknown backend with 404", async () => {
    const big = await post("a", `{"weight": 3${" ".repeat(WEIGHT_BODY_LIMIT)}}`);
    expect(big.status).toBe(413);
    const unknown = await post("nobody", '{"weight": 3}');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { reason: string }).reason).toContain("nobody");
  });

  it("answers 503 store_unavailable when the store does not take the change", async () => {
    store.failing = true;
    const response = await post("a", '{"weight": 3}');
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: "store_unavailable" });
    store.failing = false;
    expect(await status()).toEqual({ a: [1, 1], b: [1, 1], c: [1, 1] });
  });

  it("needs the token, or a session cookie from the dashboard's own origin", async () => {
    expect((await post("a", '{"weight": 3}', {})).status).toBe(401);
    const cookie = `edge_lb_admin=${await signSession(ADMIN_TOKEN, Math.floor(Date.now() / 1000) + 600)}`;
    expect((await post("a", '{"weight": 3}', { cookie })).status).toBe(403);
    expect((await post("a", '{"weight": 3}', { cookie, origin: "https://evil.test" })).status).toBe(403);
    expect(await status()).toEqual({ a: [1, 1], b: [1, 1], c: [1, 1] });
    expect((await post("a", '{"weight": 3}', { cookie, origin: "http://lb.test" })).status).toBe(200);
    expect(await status()).toEqual({ a: [3, 1], b: [1, 1], c: [1, 1] });
  });

  it("leaves drain, disable and enable as they were", async () => {
    const drain = await balancer.fetch(
      new Request("http://lb.test/_lb/backends/b/drain", { method: "POST", headers: AUTH }),
    );
    // With no {"seconds"} a drain keeps sessions for DRAIN_SECONDS (0): it ends now.
    const answer = (await drain.json()) as { backend: string; admin: string; drain_until: string };
    expect({ backend: answer.backend, admin: answer.admin }).toEqual({ backend: "b", admin: "drained" });
    expect(Math.abs(Date.parse(answer.drain_until) - Date.now())).toBeLessThan(5_000);
    const unknown = await balancer.fetch(
      new Request("http://lb.test/_lb/backends/b/explode", { method: "POST", headers: AUTH }),
    );
    expect(unknown.status).toBe(404);
  });
});
