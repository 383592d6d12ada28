import { describe, expect, it } from "vitest";
import { createBalancer } from "../../src/app.ts";
import { ConfigError, type ConfigSources, loadConfig } from "../../src/config/load-config.ts";
import { MemoryStore } from "../../src/state/memory.ts";

const BACKENDS = "http://a.test,http://b.test";
const SECRET = "affinity-s3cret-SHOULD-NOT-LEAK-0123";
const NOT_SET = "AFFINITY_SECRET is not set";

function refusal(env: Record<string, string>, more: Omit<ConfigSources, "env"> = {}): ConfigError {
  try {
    loadConfig({ env: { BACKENDS, ...env }, ...more });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("the configuration was accepted");
}

const problem = (error: ConfigError, field: string) => {
  const found = error.problems.find((p) => p.field === field);
  expect(found, `fields named: ${error.problems.map((p) => p.field).join(", ")}`).toBeDefined();
  return found!;
};

describe("affinity configuration", () => {
  it("reads every setting, with Cloudflare's defaults per mode", () => {
    const cookie = loadConfig({ env: { BACKENDS, AFFINITY: "cookie" } });
    expect(cookie.pools[0]!.affinity).toEqual({
      mode: "cookie",
      cookie_name: "lb_affinity",
      headers: [],
      require_all_headers: false,
      zero_downtime_failover: "temporary",
      cookie_secure: true,
    });
    expect(cookie.drain_seconds).toBe(0);
    const header = loadConfig({
      env: {
        BACKENDS,
        AFFINITY: "header",
        AFFINITY_HEADERS: "X-Session, X-Tenant",
        AFFINITY_REQUIRE_ALL_HEADERS: "true",
        AFFINITY_TTL_S: "90",
        ZERO_DOWNTIME_FAILOVER: "none",
        AFFINITY_COOKIE: "sid",
        AFFINITY_COOKIE_SECURE: "false",
        AFFINITY_SECRET: SECRET,
        DRAIN_SECONDS: "30",
      },
    });
    expect(header.pools[0]!.affinity).toEqual({
      mode: "header",
      cookie_name: "sid",
      ttl_s: 90,
      headers: ["X-Session", "X-Tenant"],
      require_all_headers: true,
      zero_downtime_failover: "none",
      cookie_secure: false,
    });
    expect(header.affinity_secret).toBe(SECRET);
    expect(header.drain_seconds).toBe(30);
  });

  it.each(["cookie", "ip_cookie"])(
    "AFFINITY=%s with a shared store and no AFFINITY_SECRET refuses to load, naming it",
    (mode) => {
      for (const state of ["upstash", "kv", "durable-object"]) {
        const error = refusal({ AFFINITY: mode, STATE: state });
        const secret = problem(error, "affinity_secret");
        expect(secret.expected).toContain("AFFINITY_SECRET");
        expect(secret.expected).toContain(`STATE=${state}`);
        expect(error.message).toMatch(/affinity_secret: .*AFFINITY_SECRET/);
      }
    },
  );

  it("needs no secret for header affinity or with the memory store", () => {
    expect(loadConfig({ env: { BACKENDS, AFFINITY: "header", AFFINITY_HEADERS: "x-s", STATE: "upstash" } }).state).toBe(
      "upstash",
    );
    expect(loadConfig({ env: { BACKENDS, AFFINITY: "cookie" } }).affinity_secret).toBeUndefined();
    expect(loadConfig({ env: { BACKENDS, AFFINITY: "cookie", STATE: "upstash", AFFINITY_SECRET: SECRET } }).state).toBe(
      "upstash",
    );
  });

  it("header affinity without AFFINITY_HEADERS names the field and the variable", () => {
    const headers = problem(refusal({ AFFINITY: "header" }), "pools[0].affinity.headers");
    expect(headers.value).toEqual([]);
    expect(headers.expected).toMatch(/at least one header name.*AFFINITY_HEADERS/);
  });

  it.each([
    ["AFFINITY", "sticky", "AFFINITY (pools[0].affinity.mode)", /"none"\|"cookie"\|"ip_cookie"\|"header"/, '"sticky"'],
    [
      "ZERO_DOWNTIME_FAILOVER",
      "always",
      "ZERO_DOWNTIME_FAILOVER (pools[0].affinity.zero_downtime_failover)",
      /"temporary"\|"sticky"\|"none"/,
      '"always"',
    ],
    ["AFFINITY_COOKIE", "bad name", "AFFINITY_COOKIE (pools[0].affinity.cookie_name)", /cookie name/, '"bad name"'],
    [
      "AFFINITY_HEADERS",
      "x-ok,bad header",
      "AFFINITY_HEADERS (pools[0].affinity.headers[1])",
      /header name/,
      '"bad header"',
    ],
    ["AFFINITY_TTL_S", "0", "AFFINITY_TTL_S (pools[0].affinity.ttl_s)", />=1/, "(got 0)"],
    ["AFFINITY_TTL_S", "2592001", "AFFINITY_TTL_S (pools[0].affinity.ttl_s)", /<=2592000/, "(got 2592001)"],
    ["AFFINITY_REQUIRE_ALL_HEADERS", "maybe", "AFFINITY_REQUIRE_ALL_HEADERS", /true or false/, '"maybe"'],
    ["AFFINITY_COOKIE_SECURE", "maybe", "AFFINITY_COOKIE_SECURE", /true or false/, '"maybe"'],
    ["DRAIN_SECONDS", "-1", "DRAIN_SECONDS (drain_seconds)", />=0/, "(got -1)"],
    ["DRAIN_SECONDS", "604801", "DRAIN_SECONDS (drain_seconds)", /<=604800/, "(got 604801)"],
  ])("%s=%s names the field, the value and what was expected", (env, value, field, says, shown) => {
    const error = refusal({ AFFINITY: "cookie", [env]: value });
    const found = problem(error, field);
    expect(found.expected).toMatch(says);
    expect(error.message).toContain(field);
    expect(error.message).toContain(shown);
  });
});

describe("AFFINITY_SECRET never appears in error output", () => {
  const expectSafe = (error: ConfigError, secret: string) => {
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error.problems)).not.toContain(secret);
  };

  it("a secret too short to accept prints <redacted>", () => {
    const error = refusal({ AFFINITY: "cookie", AFFINITY_SECRET: "short-s3cret" });
    expectSafe(error, "short-s3cret");
    expect(problem(error, "AFFINITY_SECRET (affinity_secret)").value).toBe("<redacted>");
    expect(error.message).toContain(
      "AFFINITY_SECRET (affinity_secret): expected at least 16 characters (got <redacted>)",
    );
  });

  it("a good secret beside another problem is not printed; nor one of the wrong type in LB_CONFIG", () => {
    expectSafe(refusal({ AFFINITY: "sticky", AFFINITY_SECRET: SECRET }), SECRET);
    const typed = refusal({ LB_CONFIG: JSON.stringify({ affinity_secret: 987654321012345, state: "nope" }) });
    expect(problem(typed, "LB_CONFIG (affinity_secret)").value).toBe("<redacted>");
    expectSafe(typed, "987654321012345");
    const inPools = refusal({ LB_CONFIG: JSON.stringify({ pools: { affinity_secret: SECRET } }) });
    expectSafe(inPools, SECRET);
  });
});

describe("a balancer with cookie affinity and no AFFINITY_SECRET on the memory store", () => {
  const start = (env: Record<string, string>) => {
    const lines: string[] = [];
    const balancer = createBalancer(loadConfig({ env: { BACKENDS, ...env } }), {
      store: new MemoryStore(),
      clientIp: () => "198.51.100.7",
      log: (line) => lines.push(line),
      fetch: async () => new Response("ok"),
    });
    return { balancer, lines };
  };

  it("starts, signs cookies with a key of its own, and says so once", async () => {
    const { balancer, lines } = start({ AFFINITY: "cookie", LOG_REQUESTS: "false" });
    expect(lines.filter((line) => line.includes(NOT_SET))).toHaveLength(1);
    let cookie = "";
    for (let i = 0; i < 5; i++) {
      const response = await balancer.fetch(new Request("http://lb.test/", { headers: { cookie } }));
      expect(response.status).toBe(200);
      const set = response.headers.get("set-cookie");
      if (i === 0) cookie = set!.split(";")[0]!;
      else expect(set).toBeNull();
    }
    expect(lines.filter((line) => line.includes(NOT_SET))).toHaveLength(1);
    expect(lines.join("\n")).not.toMatch(/lb_affinity=/);
  });

  it("says nothing of the kind with a secret, with header affinity, or without affinity", () => {
    const envs: Record<string, string>[] = [
      { AFFINITY: "cookie", AFFINITY_SECRET: SECRET },
      { AFFINITY: "header", AFFINITY_HEADERS: "x-session" },
      {},
    ];
    for (const env of envs) {
      expect(start(env).lines.filter((line) => line.includes("AFFINITY_SECRET"))).toEqual([]);
    }
  });

  it("cookies from one such instance mean nothing to another: each made its own key", async () => {
    const one = start({ AFFINITY: "cookie" });
    const two = start({ AFFINITY: "cookie" });
    const placed = await one.balancer.fetch(new Request("http://lb.test/"));
    const cookie = placed.headers.get("set-cookie")!.split(";")[0]!;
    const elsewhere = await two.balancer.fetch(new Request("http://lb.test/", { headers: { cookie } }));
    expect(elsewhere.headers.get("set-cookie")).not.toBeNull();
  });
});
