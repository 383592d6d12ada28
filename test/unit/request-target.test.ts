import { describe, expect, it } from "vitest";
import { canonicalTarget, checkTarget } from "../../src/proxy/request-target.ts";

const limits = { maxUrlBytes: 64, maxHeaderBytes: 200 };

/** A Request whose url and headers are exactly these (a Request would normalise its URL). */
function fakeRequest(url: string, method = "GET", headers: Record<string, string> = {}): Request {
  return { url, method, headers: new Headers(headers) } as unknown as Request;
}

describe("canonicalTarget", () => {
  it.each([
    ["http://lb/a/b?x=1", "/a/b?x=1"],
    ["http://lb", "/"],
    ["http://lb/", "/"],
    ["https://lb:8443/caf%C3%A9", "/caf%C3%A9"],
    ["http://lb/../secret", "/secret"],
    ["http://lb/%2e%2e/secret", "/secret"],
    ["http://lb/%2E%2e/%2e%2E/x", "/x"],
    ["http://lb/api/../../x", "/x"],
    ["http://lb/a/./b/", "/a/b/"],
    ["http://lb/a\\..\\..\\b", "/b"],
    ["http://lb/a?q=/../x", "/a?q=/../x"],
    ["http://lb/..%2f..%2fx", "/..%2f..%2fx"],
    ["http://lb/a#frag", "/a"],
  ])("%s -> %s", (url, expected) => {
    expect(canonicalTarget(url)).toBe(expected);
  });

  it.each(["/relative", "", "ftp://lb/x", "http//lb/x", "javascript:alert(1)", "http://[::1/x"])(
    "refuses %j",
    (url) => {
      expect(canonicalTarget(url)).toBeUndefined();
    },
  );

  it("never yields a path outside the root, whatever the dots", () => {
    for (const path of ["/..", "/../..", "/%2e%2e/%2e%2e/..", "/a/../../..", "/./../."]) {
      expect(canonicalTarget(`http://lb${path}/x`)).toBe("/x");
    }
  });
});

describe("checkTarget", () => {
  it("refuses TRACE, TRACK and CONNECT with 405", () => {
    for (const method of ["TRACE", "TRACK", "CONNECT", "trace"]) {
      expect(checkTarget(fakeRequest("http://lb/", method), limits)).toMatchObject({ ok: false, status: 405 });
    }
    expect(checkTarget(fakeRequest("http://lb/", "PATCH"), limits)).toMatchObject({ ok: true, target: "/" });
  });

  it.each(["y/../../admin", "a/b", "..", "a b", "user@host", "host:port", "[::1"])(
    "refuses Host %j with 400",
    (host) => {
      expect(checkTarget(fakeRequest("http://lb/", "GET", { host }), limits)).toMatchObject({ ok: false, status: 400 });
    },
  );

  it.each([
    "lb.example.com",
    "lb.example.com:8080",
    "127.0.0.1:3000",
    "[::1]:3000",
    "xn--caf-dma.example",
    "localhost.",
  ])("accepts Host %j", (host) => {
    expect(checkTarget(fakeRequest("http://lb/x", "GET", { host }), limits)).toEqual({
      ok: true,
      target: "/x",
      host: "lb",
    });
  });

  it("answers 414 above the URL limit and 431 above the header limit", () => {
    expect(checkTarget(fakeRequest(`http://lb/${"a".repeat(63)}`), limits)).toEqual({
      ok: true,
      target: `/${"a".repeat(63)}`,
      host: "lb",
    });
    expect(checkTarget(fakeRequest(`http://lb/${"a".repeat(64)}`), limits)).toMatchObject({ ok: false, status: 414 });
    expect(checkTarget(fakeRequest("http://lb/", "GET", { "x-big": "v".repeat(300) }), limits)).toMatchObject({
      ok: false,
      status: 431,
    });
  });

  it("answers 400 for a control character in a header value (fetch would refuse to send it)", () => {
    expect(checkTarget(fakeRequest("http://lb/", "GET", { "x-ctl": "a\u0001b" }), limits)).toMatchObject({
      ok: false,
      status: 400,
    });
    expect(checkTarget(fakeRequest("http://lb/", "GET", { "x-tab": "a\tb" }), limits)).toMatchObject({ ok: true });
  });

  it("gives the canonical host for X-Forwarded-Host, even from a raw absolute-form target (Deno)", () => {
    expect(checkTarget(fakeRequest("http://lb.local\\日本"), limits)).toMatchObject({ ok: true, host: "lb.local" });
    expect(checkTarget(fakeRequest("http://LB.example:8080/a/../b"), limits)).toEqual({
      ok: true,
      target: "/b",
      host: "lb.example:8080",
    });
  });

  it("answers 400 for a relative URL (Bun with an unusable Host)", () => {
    expect(checkTarget(fakeRequest("/p"), limits)).toMatchObject({ ok: false, status: 400 });
  });
});
