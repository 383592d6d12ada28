import { afterEach, describe, expect, it, vi } from "vitest";
import { probe, statusMatches } from "../../src/health/probe.ts";
import type { ProbeSpec } from "../../src/shared/probe-spec.ts";
import { backend } from "./fixtures.ts";

const SPEC: ProbeSpec = {
  path: "/healthz",
  method: "GET",
  expectedStatus: ["2xx"],
  headers: {},
  timeoutMs: 2_000,
  intervalMs: 10_000,
  rise: 2,
  fall: 3,
};
const a = backend("a");

/** A fetch that answers every call with `respond()` and keeps what it was asked. */
function fakeFetch(respond: (url: string, init: RequestInit) => Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetcher = ((url: string, init: RequestInit) => {
    calls.push({ url, init });
    return respond(url, init);
  }) as unknown as typeof fetch;
  return { fetcher, calls };
}

const answering = (status: number, body = "") => fakeFetch(async () => new Response(body, { status }));

afterEach(() => {
  vi.useRealTimers();
});

describe("probe", () => {
  it("asks the backend's URL plus the path, with the configured method and headers, without following redirects", async () => {
    const { fetcher, calls } = answering(204);
    await probe(a, { ...SPEC, method: "HEAD", headers: { host: "app.example" } }, fetcher);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("http://a.test:80/healthz");
    expect(calls[0]!.init).toMatchObject({
      method: "HEAD",
      redirect: "manual",
      headers: { "user-agent": "edge-lb-health-check", host: "app.example" },
    });
  });

  it("passes on a status in an expected class or an exact code", async () => {
    expect(await probe(a, SPEC, answering(200).fetcher)).toEqual({ passed: true, reason: "status 200" });
    expect(await probe(a, SPEC, answering(299).fetcher)).toEqual({ passed: true, reason: "status 299" });
    expect(await probe(a, { ...SPEC, expectedStatus: ["2xx", "301"] }, answering(301).fetcher)).toEqual({
      passed: true,
      reason: "status 301",
    });
  });

  it("fails on any other status and says what was expected", async () => {
    expect(await probe(a, SPEC, answering(500).fetcher)).toEqual({ passed: false, reason: "status 500, expected 2xx" });
    const spec = { ...SPEC, expectedStatus: ["2xx", "301"] };
    expect(await probe(a, spec, answering(302).fetcher)).toEqual({
      passed: false,
      reason: "status 302, expected 2xx or 301",
    });
  });

  it("checks the body when asked to", async () => {
    const spec = { ...SPEC, bodyContains: "ok" };
    expect(await probe(a, spec, answering(200, "all ok").fetcher)).toEqual({ passed: true, reason: "status 200" });
    expect(await probe(a, spec, answering(200, "degraded").fetcher)).toEqual({
      passed: false,
      reason: 'body lacks "ok"',
    });
    // The status is judged first: a wrong status fails for its own reason whatever the body says.
    expect(await probe(a, spec, answering(503, "ok").fetcher)).toEqual({
      passed: false,
      reason: "status 503, expected 2xx",
    });
  });

  it("fails with the timeout as its reason when no answer comes in time", async () => {
    vi.useFakeTimers();
    const { fetcher } = fakeFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        }),
    );
    const result = probe(a, { ...SPEC, timeoutMs: 50 }, fetcher);
    await vi.advanceTimersByTimeAsync(49);
    let settled = false;
    void result.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toEqual({ passed: false, reason: "no answer within 50 ms" });
  });

  it("fails with the system error code, or else the message, when the fetch throws", async () => {
    const refused = fakeFetch(async () => {
      throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    });
    expect(await probe(a, SPEC, refused.fetcher)).toEqual({ passed: false, reason: "ECONNREFUSED" });
    const broken = fakeFetch(async () => {
      throw new TypeError("bad URL");
    });
    expect(await probe(a, SPEC, broken.fetcher)).toEqual({ passed: false, reason: "bad URL" });
  });
});

describe("statusMatches", () => {
  it("matches classes in any case and exact codes", () => {
    expect(statusMatches(204, ["2xx"])).toBe(true);
    expect(statusMatches(204, ["2XX"])).toBe(true);
    expect(statusMatches(204, ["204"])).toBe(true);
    expect(statusMatches(200, ["204"])).toBe(false);
    expect(statusMatches(404, ["2xx", "3xx"])).toBe(false);
    expect(statusMatches(302, ["2xx", "3xx"])).toBe(true);
  });
});
