// What a hostile client can try against a real Node balancer (and, for the base path, every
// runtime): smuggle a request, make backends look broken, climb out of the base path, forge the
// forwarding headers. Real processes and upstreams on 127.0.0.1 only.
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { startUpstream } from "../../scripts/upstream.ts";
import { exchange, type RawOutcome } from "../support/raw-http.ts";
import { type RunningServer, SERVER_RUNTIMES, type ServerRuntime, startServer } from "../support/runtimes.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "../support/worker.ts";

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface StatusBackend {
  name: string;
  inflight: number;
  health: string;
  ejected_until: number | null;
}

async function backendsOfStatus(lb: RunningServer): Promise<StatusBackend[]> {
  const response = await fetch(`${lb.url}/_lb/status`, { headers: auth });
  const body = (await response.json()) as { pools: Array<{ backends: StatusBackend[] }> };
  return body.pools[0]!.backends;
}

/** One raw request on its own connection, answer parsed strictly. */
function raw(port: number, head: string, body = ""): Promise<RawOutcome> {
  return exchange(Buffer.from(head + body, "utf8"), { port, deadlineMs: 5_000 });
}

const statusOf = (outcome: RawOutcome) => (outcome.kind === "response" ? outcome.response.status : outcome.kind);
const headerOf = (outcome: RawOutcome, name: string) =>
  outcome.kind === "response" ? outcome.response.headers.find(([n]) => n.toLowerCase() === name)?.[1] : undefined;

/** An upload that sends its headers and part of a declared 1 MB body, then is cut off. */
function abortedUpload(lb: RunningServer): { abort(): void; settled: Promise<void> } {
  const req = httpRequest(`${lb.url}/upload`, {
    method: "POST",
    headers: { "content-type": "application/octet-stream", "content-length": String(1_000_000) },
  });
  const settled = new Promise<void>((resolve) => {
    req.on("error", () => resolve());
    req.on("close", () => resolve());
  });
  req.write(Buffer.alloc(128 * 1024, 7));
  return { abort: () => req.destroy(), settled };
}

describe("a client cannot make backends look broken (Node)", () => {
  let upstreams: Upstream[];
  let lb: RunningServer;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    lb = await startServer("node", [`--backends=${backendsOf(upstreams)}`, "--log-requests=false"], { ADMIN_TOKEN });
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("TRACE, TRACK and CONNECT get 405 with Allow before any backend is chosen", async () => {
    for (let i = 0; i < 20; i++) {
      const method = ["TRACE", "TRACK", "CONNECT"][i % 3]!;
      const target = method === "CONNECT" ? "127.0.0.1:1" : `/trace/${i}`;
      const outcome = await raw(lb.port, `${method} ${target} HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n\r\n`);
      // Node's parser does not know TRACK (400) and closes a CONNECT no one listens for, before
      // the balancer sees either; whatever reaches the balancer gets 405.
      if (method === "TRACE") {
        expect(statusOf(outcome)).toBe(405);
        expect(headerOf(outcome, "allow")).toContain("GET");
      } else {
        expect([405, 400, "closed"], method).toContain(statusOf(outcome));
      }
    }
    expect(upstreams.map((u) => u.started)).toEqual([0, 0, 0]);
  });

  it("20 TRACE, 20 uploads cut off mid-body and 20 answers of 500 eject nothing; 30 GETs then spread over all", async () => {
    for (let i = 0; i < 20; i++) {
      const outcome = await raw(lb.port, `TRACE /t/${i} HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n\r\n`);
      expect(statusOf(outcome)).toBe(405);
    }

    const before = upstreams.reduce((sum, u) => sum + u.started, 0);
    const uploads = Array.from({ length: 20 }, () => abortedUpload(lb));
    // Every upload reached a backend (its headers and the first chunks went through) ...
    await expect.poll(() => upstreams.reduce((sum, u) => sum + u.started, 0), { timeout: 10_000 }).toBe(before + 20);
    for (const upload of uploads) upload.abort();
    await Promise.all(uploads.map((u) => u.settled));
    // ... and the balancer has finished with every one of them.
    await expect
      .poll(async () => (await backendsOfStatus(lb)).every((b) => b.inflight === 0), { timeout: 10_000 })
      .toBe(true);

    for (const u of upstreams) u.mode = { kind: "status", status: 500 };
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${lb.url}/fails/${i}`);
      expect(response.status).toBe(500);
      await response.arrayBuffer();
    }
    for (const u of upstreams) u.mode = { kind: "ok" };

    const view = await backendsOfStatus(lb);
    expect(view.map((b) => b.ejected_until)).toEqual([null, null, null]);
    expect(view.map((b) => b.health)).toEqual(["up", "up", "up"]);
    const responses = [];
    for (let i = 0; i < 30; i++) {
      const response = await fetch(`${lb.url}/after/${i}`);
      await response.arrayBuffer();
      responses.push(response);
    }
    expect(tally(responses)).toEqual({ a: 10, b: 10, c: 10 });
  });
});

describe("request smuggling through --preserve-host (Node's own upstream client)", () => {
  let upstream: Upstream;
  let lb: RunningServer;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    lb = await startServer("node", [`--backends=${upstream.url}`, "--preserve-host=true", "--log-requests=false"]);
  });
  afterAll(async () => {
    await lb?.stop();
    await upstream?.close();
  });

  it.each(["DELETE", "OPTIONS"])(
    "a chunked %s body arrives framed; the upstream parses exactly one request",
    async (method) => {
      upstream.received.length = 0;
      const smuggled = "GET /smuggled HTTP/1.1\r\nHost: attacker.example\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
      const chunked = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
      const outcome = await raw(
        lb.port,
        `${method} /item HTTP/1.1\r\nHost: lb.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
        chunked,
      );
      expect(statusOf(outcome)).toBe(200);
      // The upstream connection is kept alive: a smuggled request would be parsed before this one.
      const after = await fetch(`${lb.url}/after`);
      expect(after.status).toBe(200);
      await after.arrayBuffer();

      expect(upstream.received.map((r) => `${r.method} ${r.target}`)).toEqual([`${method} /item`, "GET /after"]);
      const first = upstream.received[0]!;
      expect(first.bodyLength).toBe(Buffer.byteLength(smuggled));
      const names = first.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names.includes("content-length") || names.includes("transfer-encoding")).toBe(true);
    },
  );
});

/** Targets and Host values that try to leave the backend's base path. */
const ESCAPES: ReadonlyArray<{ target: string; host: string }> = [
  { target: "/../x", host: "lb.test" },
  { target: "/%2e%2e/x", host: "lb.test" },
  { target: "/%2E%2e/%2e%2E/x", host: "lb.test" },
  { target: "/api/../../x", host: "lb.test" },
  { target: "/a/..%2f..%2fx", host: "lb.test" },
  { target: "/p", host: "y/../../admin" },
  { target: "/p", host: "a/b" },
  { target: "/p", host: ".." },
  { target: "http://other.example/../../x", host: "lb.test" },
];

describe.each(SERVER_RUNTIMES)("base path /api on %s", (runtime: ServerRuntime) => {
  let upstream: Upstream;
  let lb: RunningServer;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    lb = await startServer(runtime, [`--backends=${upstream.url}/api`, "--log-requests=false"]);
  });
  afterAll(async () => {
    await lb?.stop();
    await upstream?.close();
  });

  it("every upstream path starts with /api/, or the request gets 400", async () => {
    for (const { target, host } of ESCAPES) {
      const seen = upstream.received.length;
      const outcome = await raw(lb.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      const status = statusOf(outcome);
      if (upstream.received.length > seen) {
        const path = upstream.received[seen]!.target;
        expect(path, `${target} with Host ${host}`).toMatch(/^\/api\//);
        expect(status).toBe(200);
      } else {
        expect(status, `${target} with Host ${host}`).toBe(400);
      }
    }
  });

  it("X-Forwarded-Proto is the scheme the client used; a stranger's Forwarded and X-Real-IP are dropped", async () => {
    const outcome = await raw(
      lb.port,
      "GET https://lb.test/echo HTTP/1.1\r\nHost: lb.test\r\nForwarded: for=6.6.6.6;proto=https\r\n" +
        "X-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
    );
    if (statusOf(outcome) === 400) return; // a runtime may refuse the absolute-form target itself
    expect(statusOf(outcome)).toBe(200);
    const last = upstream.received[upstream.received.length - 1]!;
    const headers = new Map<string, string>();
    for (let i = 0; i < last.rawHeaders.length; i += 2)
      headers.set(last.rawHeaders[i]!.toLowerCase(), last.rawHeaders[i + 1]!);
    expect(headers.get("x-forwarded-proto")).toBe("http");
    expect(headers.has("forwarded")).toBe(false);
    expect(headers.has("x-real-ip")).toBe(false);
    expect(last.target).toBe("/api/echo");
  });
});

describe("base path /api on workerd", () => {
  let upstream: Upstream;
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    worker = await startWorker({ BACKENDS: `${upstream.url}/api` });
  });
  afterAll(async () => {
    await worker?.dispose();
    await upstream?.close();
  });

  it("every upstream path starts with /api/, or the request gets 400", async () => {
    // The URL reaches workerd parsed (as it does from Cloudflare's edge); Host is sent as given.
    for (const { target, host } of ESCAPES.filter((e) => e.target.startsWith("/"))) {
      const seen = upstream.received.length;
      const response = await worker.fetch(target, { headers: { host } });
      await response.arrayBuffer();
      if (upstream.received.length > seen) {
        expect(upstream.received[seen]!.target, `${target} with Host ${host}`).toMatch(/^\/api\//);
      } else {
        expect(response.status, `${target} with Host ${host}`).toBe(400);
      }
    }
  });
});
