import { describe, expect, it } from "vitest";
import { covers } from "../../src/routing/route-cover.ts";
import { compileMatch, routingHost, routingTarget, stripPrefix } from "../../src/routing/route-match.ts";
import { type Route, Router } from "../../src/routing/router.ts";
import type { SteeringPlan } from "../../src/routing/steering.ts";

const plan = (pool: string): SteeringPlan => ({
  policy: "failover",
  pools: [pool],
  fallback: undefined,
  countryPools: new Map(),
  continentPools: new Map(),
});

const route = (name: string, match: Parameters<typeof compileMatch>[0], strip = false): Route => ({
  name,
  match: compileMatch(match),
  stripPrefix: strip,
  steering: plan(name),
});

const router = new Router([
  route("api", { host: "api.example.com" }),
  route("tenant", { host: "*.tenants.example.com" }),
  route("static", { path_prefix: "/static/" }, true),
  route("writes", { path_prefix: "/orders", method: ["POST", "put"] }),
  route("canary", { headers: { "X-Canary": "1" } }),
  route("debug", { headers: { "x-debug": true } }),
  route("default", undefined),
]);

const hit = (host: string, target: string, method = "GET", headers: Record<string, string> = {}) => {
  const found = router.route(method, host, target, new Headers(headers));
  return found ? `${found.route.name} ${found.target}` : "none";
};

describe("Router", () => {
  it("matches hosts exactly or by subdomain, ignoring case, port and a trailing dot", () => {
    expect(hit("api.example.com", "/x")).toBe("api /x");
    expect(hit("API.Example.com:8443", "/x")).toBe("api /x");
    expect(hit("api.example.com.", "/x")).toBe("api /x");
    expect(hit("www.api.example.com", "/x")).toBe("default /x");
    expect(hit("a.tenants.example.com", "/")).toBe("tenant /");
    expect(hit("a.b.tenants.example.com", "/")).toBe("tenant /");
    expect(hit("tenants.example.com", "/")).toBe("default /");
    expect(hit("eviltenants.example.com", "/")).toBe("default /");
  });

  it("matches path prefixes on whole segments and strips them when asked", () => {
    expect(hit("x.test", "/static")).toBe("static /");
    expect(hit("x.test", "/static/")).toBe("static /");
    expect(hit("x.test", "/static/app.js?v=2")).toBe("static /app.js?v=2");
    expect(hit("x.test", "/static?v=2")).toBe("static /?v=2");
    expect(hit("x.test", "/staticky")).toBe("default /staticky");
    expect(hit("x.test", "/Static/app.js")).toBe("default /Static/app.js");
  });

  it("sees through percent-encoded unreserved characters, not encoded slashes", () => {
    expect(hit("x.test", "/%73tatic/a%2Db")).toBe("static /a-b");
    expect(hit("x.test", "/static%2Fapp.js")).toBe("default /static%2Fapp.js");
    expect(routingTarget("/a%2fb%7e")).toBe("/a%2Fb~");
  });

  it("matches methods and headers", () => {
    expect(hit("x.test", "/orders/1", "POST")).toBe("writes /orders/1");
    expect(hit("x.test", "/orders/1", "PUT")).toBe("writes /orders/1");
    expect(hit("x.test", "/orders/1", "GET")).toBe("default /orders/1");
    expect(hit("x.test", "/", "GET", { "x-canary": "1" })).toBe("canary /");
    expect(hit("x.test", "/", "GET", { "x-canary": "2" })).toBe("default /");
    expect(hit("x.test", "/", "GET", { "x-debug": "" })).toBe("debug /");
  });

  it("answers nothing when no route matches", () => {
    const strict = new Router([route("api", { host: "api.example.com" })]);
    expect(strict.route("GET", "other.example.com", "/", new Headers())).toBeUndefined();
  });
});

describe("route helpers", () => {
  it("routingHost keeps IPv6 literals whole", () => {
    expect(routingHost("[::1]:8080")).toBe("[::1]");
    expect(routingHost("127.0.0.1:3000")).toBe("127.0.0.1");
  });

  it("stripPrefix leaves a path that starts with a slash", () => {
    expect(stripPrefix("/a/b/c", "/a")).toBe("/b/c");
    expect(stripPrefix("/a", "/a")).toBe("/");
    expect(stripPrefix("/a?x", "/a")).toBe("/?x");
  });

  it("covers finds a later route an earlier one hides", () => {
    const c = (a: Parameters<typeof compileMatch>[0], b: Parameters<typeof compileMatch>[0]) =>
      covers(compileMatch(a), compileMatch(b));
    expect(c(undefined, { host: "a.test" })).toBe(true);
    expect(c({ host: "*.example.com" }, { host: "api.example.com", path_prefix: "/v1" })).toBe(true);
    expect(c({ host: "*.example.com" }, { host: "*.eu.example.com" })).toBe(true);
    expect(c({ path_prefix: "/api" }, { path_prefix: "/api/v1" })).toBe(true);
    expect(c({ path_prefix: "/api" }, { path_prefix: "/apiv1" })).toBe(false);
    expect(c({ method: ["GET", "POST"] }, { method: "GET" })).toBe(true);
    expect(c({ method: "GET" }, { method: ["GET", "POST"] })).toBe(false);
    expect(c({ headers: { "x-a": true } }, { headers: { "X-A": "1" } })).toBe(true);
    expect(c({ headers: { "x-a": "1" } }, { headers: { "x-a": true } })).toBe(false);
    expect(c({ host: "api.example.com" }, undefined)).toBe(false);
  });
});
