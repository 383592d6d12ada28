import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

describe("the Worker under miniflare, proxying to real upstreams", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("spreads 300 GETs exactly 100/100/100 with round robin", async () => {
    const responses: Response[] = [];
    for (let i = 0; i < 300; i++) {
      const response = await worker.fetch(`/hello/${i}`);
      await response.text();
      responses.push(response);
    }
    expect(tally(responses)).toEqual({ a: 100, b: 100, c: 100 });
  });

  it("delivers a 1 MB random POST body byte-identical", async () => {
    const body = randomBytes(1024 * 1024);
    const response = await worker.fetch("/echo", { method: "POST", body });
    const echo = await response.json<{ bodyLength: number; bodySha256: string }>();
    expect(response.status).toBe(200);
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
  });
});

describe("the Worker forwards requests faithfully", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["solo"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams) });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const echo = async (path: string, init?: RequestInit & { clientIp?: string }) => {
    const response = await worker.fetch(path, init);
    expect(response.status).toBe(200);
    const body = await response.json<{ method: string; target: string; rawHeaders: string[] }>();
    const headers = new Map<string, string[]>();
    for (let i = 0; i < body.rawHeaders.length; i += 2) {
      const name = body.rawHeaders[i]!.toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), body.rawHeaders[i + 1]!]);
    }
    return { ...body, headers };
  };

  it("keeps the method, the query string and a non-ASCII path", async () => {
    const got = await echo("/echo/caf%C3%A9/%E6%97%A5%E6%9C%AC?q=a%20b&q=2&empty=", { method: "PATCH", body: "x" });
    expect(got.method).toBe("PATCH");
    expect(got.target).toBe("/echo/caf%C3%A9/%E6%97%A5%E6%9C%AC?q=a%20b&q=2&empty=");
  });

  it("keeps repeated headers (as their combined field value, RFC 9110 5.3)", async () => {
    const headers = new Headers();
    headers.append("x-repeat", "one");
    headers.append("x-repeat", "two");
    const got = await echo("/echo", { headers });
    expect(got.headers.get("x-repeat")).toEqual(["one, two"]);
  });

  it("appends the CF-Connecting-IP to X-Forwarded-For and sets X-Forwarded-Proto/-Host", async () => {
    const got = await echo("/echo", { clientIp: "198.51.100.23", headers: { "x-forwarded-for": "10.1.1.1" } });
    expect(got.headers.get("x-forwarded-for")).toEqual(["10.1.1.1, 198.51.100.23"]);
    expect(got.headers.get("x-forwarded-proto")).toEqual(["http"]);
    expect(got.headers.get("x-forwarded-host")).toEqual(["balancer.test"]);
    expect(got.headers.get("host")).toEqual([new URL(upstreams[0]!.url).host]);
  });

  it("drops hop-by-hop headers and the headers Connection lists", async () => {
    // undici's fetch will not send Connection or Keep-Alive, so this one goes over node:http.
    const got = await rawEcho(worker.url, {
      connection: "x-secret-hop, keep-alive",
      "x-secret-hop": "must not pass",
      "keep-alive": "timeout=5",
      te: "trailers",
      "proxy-authorization": "Basic Zm9vOmJhcg==",
      "x-kept": "yes",
      "cf-connecting-ip": "203.0.113.7",
    });
    expect(got.headers.has("x-secret-hop")).toBe(false);
    expect(got.headers.has("te")).toBe(false);
    expect(got.headers.has("proxy-authorization")).toBe(false);
    expect(got.headers.get("keep-alive")).toBeUndefined();
    expect(got.headers.get("x-kept")).toEqual(["yes"]);
  });

  it("passes redirects and every Set-Cookie to the client unchanged", async () => {
    const redirect = await worker.fetch("/redirect", { redirect: "manual" });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get("location")).toBe("http://127.0.0.1:1/elsewhere");
    const cookies = await worker.fetch("/cookies");
    expect(cookies.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
  });
});

async function rawEcho(base: URL, headers: Record<string, string>) {
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(new URL("/echo", base), { headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))));
    });
    req.on("error", reject);
    req.end();
  });
  const { rawHeaders } = JSON.parse(body) as { rawHeaders: string[] };
  const map = new Map<string, string[]>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    map.set(name, [...(map.get(name) ?? []), rawHeaders[i + 1]!]);
  }
  return { headers: map };
}

describe("the Worker when upstreams fail", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  const TIMEOUT_MS = 400;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), TIMEOUT_MS: String(TIMEOUT_MS) });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("serves 100 GETs on the other two when one upstream's port is closed", async () => {
    await upstreams[1]!.close();
    const responses: Response[] = [];
    for (let i = 0; i < 100; i++) {
      const response = await worker.fetch("/");
      await response.text();
      responses.push(response);
    }
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const counts = tally(responses);
    expect(counts["b"]).toBeUndefined();
    expect((counts["a"] ?? 0) + (counts["c"] ?? 0)).toBe(100);
    await upstreams[1]!.reopen();
  });

  it("answers 504 JSON within the configured timeout when an upstream never answers", async () => {
    for (const u of upstreams) u.mode = { kind: "hang" };
    const started = performance.now();
    // A request id of the test's own: a random one could spell "400" by chance.
    const response = await worker.fetch("/slow", { headers: { "x-request-id": "timeout-test" } });
    const elapsed = performance.now() - started;
    expect(response.status).toBe(504);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    const body = await response.json<{ error: string; reason: string }>();
    expect(body.error).toBe("upstream_timeout");
    expect(body).toMatchObject({ request_id: "timeout-test" });
    // What happened, not where or with which setting: the detail is in the log.
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|localhost|:\d{2,5}\b|400/);
    await expect
      .poll(() => worker.logs.some((l) => l.includes("attempt failed (timeout): no response within 400 ms")))
      .toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 2_000);
    for (const u of upstreams) u.mode = { kind: "ok" };
  });

  it("answers 502 JSON with a reason when every upstream's port is closed", async () => {
    await Promise.all(upstreams.map((u) => u.close()));
    const response = await worker.fetch("/");
    expect(response.status).toBe(502);
    const body = await response.json<{ error: string; reason: string }>();
    // workerd reports a refused connection as "Network connection lost", the same words as a
    // reset after sending, so the Worker cannot claim nothing was sent.
    expect(body.error).toBe("upstream_connection_failed");
    // No backend URL, host, port or system error for an anonymous client; the log has them.
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|localhost|:\d{2,5}\b|Network connection/);
    await expect.poll(() => worker.logs.some((l) => l.includes(`${upstreams[0]!.url}: attempt failed`))).toBe(true);
    await Promise.all(upstreams.map((u) => u.reopen()));
  });
});
