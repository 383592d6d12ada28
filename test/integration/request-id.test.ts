// One request's id, followed end to end: the client's response, the upstream's request headers,
// the log, and the JSON body of the balancer's own errors. The Node CLI with LOG_FORMAT=json and a
// configured header name; workerd with the defaults (text log).
import type { IncomingHttpHeaders } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { type RunningServer, startServer } from "../support/runtimes.ts";
import { until } from "../support/websocket-client.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/** The value of `name` in raw header pairs, every occurrence. */
function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

const records = (lines: readonly string[]) =>
  lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);

describe("request ids on the Node CLI (LOG_FORMAT=json, REQUEST_ID_HEADER=x-correlation-id)", () => {
  let upstream: Upstream;
  let lb: RunningServer;
  const HEADER = "x-correlation-id";

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    // The second backend's port is closed: with one attempt a request there gets the 502.
    lb = await startServer("node", [`--backends=${upstream.url},http://127.0.0.1:9`, "--max-attempts=1"], {
      LOG_FORMAT: "json",
      REQUEST_ID_HEADER: "X-Correlation-Id",
      EJECT_AFTER: "0",
    });
  });
  afterAll(async () => {
    await lb?.stop();
    await upstream?.close();
  });

  /** Sends GET /echo until one reaches the live upstream (round robin alternates). */
  async function echoed(headers: Record<string, string>) {
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${lb.url}/echo?token=secret`, { headers });
      if (response.status === 200) {
        const body = (await response.json()) as { rawHeaders: string[] };
        return { response, rawHeaders: body.rawHeaders };
      }
      await response.arrayBuffer();
    }
    throw new Error("no request reached the live upstream");
  }

  it("keeps a client's sane id: in the response, upstream, and the request's log record", async () => {
    const id = "client-req-0001_ABC.xyz~";
    const { response, rawHeaders } = await echoed({ [HEADER]: id, traceparent: TRACEPARENT, tracestate: TRACESTATE });
    expect(response.headers.get(HEADER)).toBe(id);
    expect(headerValues(rawHeaders, HEADER)).toEqual([id]);
    // W3C trace context passes through untouched.
    expect(headerValues(rawHeaders, "traceparent")).toEqual([TRACEPARENT]);
    expect(headerValues(rawHeaders, "tracestate")).toEqual([TRACESTATE]);
    await until(() => records(lb.stdout).some((r) => r["request_id"] === id), 5_000, "the access record");
    const record = records(lb.stdout).find((r) => r["request_id"] === id)!;
    expect(record).toMatchObject({ method: "GET", path: "/echo", status: 200, backend: new URL(upstream.url).host });
  });

  it("replaces a missing or insane id with a fresh UUID, the same everywhere", async () => {
    for (const sent of [undefined, "x".repeat(129), "has space", "tab\there", "ünïcode"]) {
      const headers: Record<string, string> = sent === undefined ? {} : { [HEADER]: sent };
      // fetch refuses non-Latin-1 header values: send those as their UTF-8 bytes read as Latin-1.
      if (sent === "ünïcode") headers[HEADER] = Buffer.from(sent, "utf8").toString("latin1");
      const { response, rawHeaders } = await echoed(headers);
      const id = response.headers.get(HEADER)!;
      expect(id).toMatch(UUID);
      expect(headerValues(rawHeaders, HEADER)).toEqual([id]);
      await until(() => records(lb.stdout).some((r) => r["request_id"] === id), 5_000, `the record of ${id}`);
    }
    const a = (await echoed({})).response.headers.get(HEADER);
    const b = (await echoed({})).response.headers.get(HEADER);
    expect(a).not.toBe(b);
  });

  it("puts the id in a 502's JSON body and header, its access record and its failure line", async () => {
    let response: Response | undefined;
    for (let i = 0; i < 4 && response?.status !== 502; i++) {
      response = await fetch(`${lb.url}/x`, { headers: { [HEADER]: `bad-gateway-${i}` } });
      if (response.status !== 502) await response.arrayBuffer();
    }
    expect(response!.status).toBe(502);
    const id = response!.headers.get(HEADER)!;
    expect(id).toMatch(/^bad-gateway-\d$/);
    expect(await response!.json()).toEqual({
      error: expect.stringMatching(/^upstream_(unreachable|connection_failed)$/),
      reason: expect.any(String),
      request_id: id,
    });
    await until(() => records(lb.stdout).some((r) => r["request_id"] === id && r["status"] === 502), 5_000, "record");
    const failed = records(lb.stdout).find((r) => r["event"] === "attempt_failed" && r["request_id"] === id);
    expect(failed).toMatchObject({ pool: "default", backend: "127.0.0.1:9", url: "http://127.0.0.1:9" });
  });

  it("carries the id on a WebSocket upgrade: upstream and the 101", async () => {
    const id = "ws-upgrade-0001";
    /** The 101's headers, or undefined when the handshake went to the closed port (a 502). */
    const upgrade = () =>
      new Promise<IncomingHttpHeaders | undefined>((resolve, reject) => {
        const ws = new WebSocket(`${lb.url.replace(/^http/, "ws")}/ws`, { headers: { [HEADER]: id } });
        let headers: IncomingHttpHeaders | undefined;
        ws.once("upgrade", (res) => {
          headers = res.headers;
        });
        ws.once("open", () => {
          ws.terminate();
          resolve(headers);
        });
        ws.once("unexpected-response", (_req, res) => {
          res.resume();
          ws.terminate();
          resolve(undefined);
        });
        ws.once("error", reject);
      });
    let answer: IncomingHttpHeaders | undefined;
    for (let i = 0; i < 4 && !answer; i++) answer = await upgrade();
    expect(answer?.[HEADER]).toBe(id);
    expect(headerValues(upstream.streams.upgradeHeaders.at(-1)!, HEADER)).toEqual([id]);
  });
});

describe("request ids on workerd (defaults: X-Request-Id, text log)", () => {
  let upstream: Upstream;
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "w" });
    worker = await startWorker({ BACKENDS: `${upstream.url},http://127.0.0.1:9`, MAX_ATTEMPTS: "1", EJECT_AFTER: "0" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await upstream?.close();
  });

  it("sends the id upstream and back, passes trace context, and puts it in a 502's body and log line", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 4 && seen.size < 2; i++) {
      const id = `worker-${i}`;
      const response = await worker.fetch("/echo", {
        headers: { "x-request-id": id, traceparent: TRACEPARENT, tracestate: TRACESTATE },
      });
      seen.add(response.status);
      expect(response.headers.get("x-request-id")).toBe(id);
      if (response.status === 200) {
        const { rawHeaders } = (await response.json()) as { rawHeaders: string[] };
        expect(headerValues(rawHeaders, "x-request-id")).toEqual([id]);
        expect(headerValues(rawHeaders, "traceparent")).toEqual([TRACEPARENT]);
        expect(headerValues(rawHeaders, "tracestate")).toEqual([TRACESTATE]);
      } else {
        expect(response.status).toBe(502);
        expect(((await response.json()) as { request_id: string }).request_id).toBe(id);
        await until(
          () => worker.logs.some((l) => l.includes("attempt failed") && l.includes(`request_id=${id}`)),
          5_000,
          "line",
        );
      }
    }
    expect([...seen].sort()).toEqual([200, 502]);
    const fresh = await worker.fetch("/echo");
    expect(fresh.headers.get("x-request-id")).toMatch(UUID);
    await fresh.arrayBuffer();
  });
});
