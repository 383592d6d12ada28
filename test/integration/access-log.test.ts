// LOG_FORMAT=json and /_lb/metrics, as an operator's log pipeline and Prometheus read them: every
// line of a 1,000-request run is a JSON object, each request's record has the documented fields,
// state changes come as objects, and the metrics text parses with a Prometheus text-format
// parser, its latency histogram counting exactly the requests sent. Node carries the big run;
// Bun and Deno show their writers produce the same lines.
import { createServer } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { getMetricsFromIterator, type PromHistogramData, type PromMetrics } from "prom2javascript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { sendMany } from "../support/load.ts";
import { type RunningServer, type ServerRuntime, startServer } from "../support/runtimes.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { until } from "../support/websocket-client.ts";
import { ADMIN_TOKEN, startWorker, type WorkerInstance } from "../support/worker.ts";

const FIELDS = [
  "time",
  "request_id",
  "method",
  "host",
  "path",
  "status",
  "pool",
  "backend",
  "attempts",
  "upstream_ms",
  "total_ms",
  "bytes_in",
  "bytes_out",
  "client_ip",
] as const;

type LogObject = Record<string, unknown>;

/** Every line parsed; a line that is not a JSON object fails the test here. */
function parseLines(lines: readonly string[]): LogObject[] {
  return lines.map((line) => {
    const value = JSON.parse(line) as unknown;
    expect(typeof value === "object" && value !== null && !Array.isArray(value), line).toBe(true);
    return value as LogObject;
  });
}

const requestRecords = (objects: readonly LogObject[]) => objects.filter((o) => "request_id" in o && "status" in o);

/** workerd's stdout mixes its own lines with the Worker's: every line opening an object must parse. */
const jsonRecords = (lines: readonly string[]) =>
  requestRecords(parseLines(lines.filter((line) => line.startsWith("{"))));

/** An upstream that declares its body's length (the recording upstreams answer chunked). */
async function startDeclaredUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": "9" });
    res.end("declared\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An upstream that declares a 1 MB body, sends 64 KB of it and then waits for ever. */
async function startStallingUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(1 << 20) });
    res.write(Buffer.alloc(64 * 1024, 120));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw GET with the given id, on a socket of its own that the test may drop at any moment. */
function sendRawGet(url: string, path: string, requestId: string): Socket {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\nx-request-id: ${requestId}\r\n\r\n`);
  return socket;
}

/** A client that reads the response head and some body, then drops its connection. */
async function breakOffAfterSomeBody(url: string, path: string, requestId: string): Promise<void> {
  const socket = sendRawGet(url, path, requestId);
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > 16 * 1024) resolve();
    });
  });
  socket.destroy();
}

const fetcher = (lb: RunningServer) => ({
  fetch: (path: string, init?: RequestInit) => fetch(`${lb.url}${path}`, init),
});

describe("LOG_FORMAT=json on the Node CLI, and /_lb/metrics", () => {
  let upstreams: Upstream[];
  let lb: RunningServer;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b"]);
    lb = await startServer("node", [`--backends=${backendsOf(upstreams)}`, "--log-format=json"], { ADMIN_TOKEN });
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("writes every line of a 1,000-request run as JSON, one record per request with every field", async () => {
    const before = lb.stdout.length;
    // Every fifth request a POST whose body length is its index, so bytes_in can be checked.
    const responses = await sendMany([fetcher(lb)], 1_000, {
      concurrency: 8,
      path: (i) => `/r/${i}?secret=${i}`,
      init: (i) =>
        i % 5 === 0 ? { method: "POST", body: "x".repeat(i), headers: { "x-index": String(i) } } : { method: "GET" },
    });
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const recordLines = () => lb.stdout.slice(before).filter((line) => line.includes('"request_id"')).length;
    await until(() => recordLines() >= 1_000, 10_000, "1,000 records");
    const lines = lb.stdout.slice(before);
    const records = requestRecords(parseLines(lines));
    expect(records).toHaveLength(1_000);
    expect(new Set(records.map((r) => r["request_id"])).size).toBe(1_000);
    const names = upstreams.map((u) => new URL(u.url).host);
    // Checked in plain code, the problems collected: 1,000 records x 14 fields of expect() is slow.
    const problems: string[] = [];
    for (const record of records) {
      const wrong = (what: string) => problems.push(`${what}: ${JSON.stringify(record)}`);
      for (const field of FIELDS) if (!(field in record)) wrong(`no ${field}`);
      if (new Date(record["time"] as string).toISOString() !== record["time"]) wrong("time");
      const path = String(record["path"]);
      if (!/^\/r\/\d+$/.test(path)) wrong("path");
      if (record["host"] !== `127.0.0.1:${lb.port}` || record["status"] !== 200) wrong("host or status");
      if (record["pool"] !== "default" || record["attempts"] !== 1) wrong("pool or attempts");
      if (!/127\.0\.0\.1$/.test(String(record["client_ip"]))) wrong("client_ip");
      if (!names.includes(record["backend"] as string)) wrong("backend");
      // "Hello from a\n": the body as it passed.
      if (record["bytes_out"] !== 13) wrong("bytes_out");
      const index = Number(path.slice(3));
      if (record["method"] !== (index % 5 === 0 ? "POST" : "GET")) wrong("method");
      if (record["bytes_in"] !== (index % 5 === 0 ? index : 0)) wrong("bytes_in");
      const upstreamMs = record["upstream_ms"] as number;
      if (!(upstreamMs >= 0) || !((record["total_ms"] as number) >= upstreamMs)) wrong("upstream_ms, total_ms");
    }
    expect(problems.slice(0, 5)).toEqual([]);
    // No text line slipped in (no "Forwarding request to:"), and no query reached the log.
    expect(lines.some((line) => line.includes("secret="))).toBe(false);
  });

  it("logs state changes as objects: drained and enabled through the admin API", async () => {
    const before = lb.stdout.length;
    const name = new URL(upstreams[1]!.url).host;
    for (const action of ["drain", "enable"]) {
      const response = await fetch(`${lb.url}/_lb/backends/${name}/${action}`, { method: "POST", headers: auth });
      expect(response.status).toBe(200);
    }
    await until(() => parseLines(lb.stdout.slice(before)).some((o) => o["event"] === "enabled"), 5_000, "enabled");
    const events = parseLines(lb.stdout.slice(before)).filter((o) => "event" in o);
    expect(events.map((e) => [e["event"], e["backend"], e["pool"]])).toEqual([
      ["drained", name, "default"],
      ["enabled", name, "default"],
    ]);
    for (const event of events) expect(Number.isNaN(Date.parse(event["time"] as string))).toBe(false);
  });

  it("exposes a per-backend latency histogram that a Prometheus parser reads, counting every request", async () => {
    // prom2javascript: a strict parser of the text format (it refuses a malformed line, and a
    // histogram whose +Inf bucket is not its count). parse-prometheus-text-format, the more used
    // one, merges the series of a labelled histogram into one, so it cannot check this.
    const scrape = async (): Promise<PromMetrics> => {
      const response = await fetch(`${lb.url}/_lb/metrics`, { headers: auth });
      expect(response.status).toBe(200);
      return getMetricsFromIterator((await response.text()).split("\n")[Symbol.iterator]());
    };
    const family = (metrics: PromMetrics, name: string) => {
      expect(metrics, name).toHaveProperty([name]);
      return metrics[name]!;
    };
    const histogramOf = (metrics: PromMetrics) =>
      family(metrics, "edge_lb_backend_response_seconds").data as PromHistogramData[];
    const sum = (metrics: PromMetrics, name: string, pick: (labels: Record<string, string>) => boolean) =>
      (family(metrics, name).data as Array<{ labels: Record<string, string>; value: number }>)
        .filter((sample) => pick(sample.labels))
        .reduce((total, sample) => total + sample.value, 0);

    const before = await scrape();
    const sent = 60;
    const responses = await sendMany([fetcher(lb)], sent, { concurrency: 4 });
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const after = await scrape();

    expect(family(after, "edge_lb_backend_response_seconds").type).toBe("histogram");
    const series = histogramOf(after);
    expect(series.map((s) => s.labels["backend"]).sort()).toEqual(upstreams.map((u) => new URL(u.url).host).sort());
    const count = (metrics: PromMetrics) => histogramOf(metrics).reduce((total, s) => total + s.count, 0);
    expect(count(after) - count(before)).toBe(sent);
    for (const sample of series) {
      expect(sample.labels["pool"]).toBe("default");
      const bounds = Object.keys(sample.buckets);
      // 1 ms to 30 s, then +Inf; each bucket counts at least what the one below it does.
      expect(bounds).toContain("0.001");
      expect(bounds).toContain("30");
      expect(bounds).toContain("+Inf");
      const ordered = bounds
        .map((le) => [le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), sample.buckets[le]!] as const)
        .sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < ordered.length; i++) expect(ordered[i]![1]).toBeGreaterThanOrEqual(ordered[i - 1]![1]);
      expect(ordered.at(-1)![1]).toBe(sample.count);
      expect(sample.sum).toBeGreaterThan(0);
    }
    const ok = (metrics: PromMetrics) => sum(metrics, "edge_lb_responses_total", (labels) => labels["code"] === "2xx");
    expect(ok(after) - ok(before)).toBe(sent);
    const attempts = (metrics: PromMetrics) => sum(metrics, "edge_lb_backend_attempts_total", () => true);
    expect(attempts(after) - attempts(before)).toBe(sent);
    expect(family(after, "edge_lb_retries_total").type).toBe("counter");
    expect(sum(after, "edge_lb_backend_ejections_total", () => true)).toBe(0);
  });
});

describe.each(["bun", "deno"] as ServerRuntime[])("LOG_FORMAT=json on %s", (runtime) => {
  let upstreams: Upstream[];
  let lb: RunningServer;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a"]);
    lb = await startServer(runtime, [`--backends=${backendsOf(upstreams)}`], { LOG_FORMAT: "json" });
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("writes start-up lines and one record per request, every line JSON", async () => {
    const responses = await sendMany([fetcher(lb)], 50, { concurrency: 4 });
    expect(responses.every((r) => r.status === 200)).toBe(true);
    await until(() => lb.stdout.filter((line) => line.includes('"request_id"')).length >= 50, 10_000, "50 records");
    const objects = parseLines(lb.stdout);
    expect(objects.some((o) => /^Load Balancer started at :\d+$/.test(String(o["msg"])))).toBe(true);
    const records = requestRecords(objects);
    expect(records).toHaveLength(50);
    for (const record of records) {
      for (const field of FIELDS) expect(record, field).toHaveProperty(field);
      expect(record).toMatchObject({ status: 200, bytes_out: 13, attempts: 1 });
      expect(record).not.toHaveProperty("logged_at");
    }
  });

  // Deno says when a body has gone (completed); Bun streams it natively and does not, so its
  // record is written at hand-over (request-trace.ts).
  it("writes a declared-length body's record with its declared bytes", async () => {
    const declared = await startDeclaredUpstream();
    const other = await startServer(runtime, [`--backends=${declared.url}`], { LOG_FORMAT: "json" });
    try {
      const response = await fetch(`${other.url}/d`, { headers: { "x-request-id": `${runtime}-declared` } });
      expect(await response.text()).toBe("declared\n");
      const recordOf = () =>
        requestRecords(parseLines(other.stdout)).find((o) => o["request_id"] === `${runtime}-declared`);
      await until(() => recordOf() !== undefined, 10_000, "the record");
      expect(recordOf()).toMatchObject({ status: 200, bytes_out: 9 });
      if (runtime === "bun") expect(recordOf()).toMatchObject({ logged_at: "headers" });
      else expect(recordOf()).not.toHaveProperty("logged_at");
      expect(recordOf()).not.toHaveProperty("aborted");
    } finally {
      await other.stop();
      await declared.close();
    }
  });
});

describe("LOG_FORMAT=json on workerd", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), LOG_FORMAT: "json", LOG_REQUESTS: "true" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("hands console.log one object per request once its body has gone through", async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `workerd-json-${i}`);
    for (const id of ids) {
      const response = await worker.fetch(`/r/${id}?q=1`, { headers: { "x-request-id": id } });
      expect(await response.text()).toBe("Hello from a\n");
    }
    // Each record is one JSON line locally too (console-record.ts), not workerd's inspector form.
    const recordOf = (id: string) => jsonRecords(worker.logs).find((record) => record["request_id"] === id);
    await until(() => ids.every((id) => recordOf(id) !== undefined), 10_000, "10 records");
    for (const id of ids) {
      const record = recordOf(id)!;
      expect(record["path"]).toBe(`/r/${id}`);
      expect(record["status"]).toBe(200);
      expect(record["bytes_out"]).toBe(13);
      expect(record["attempts"]).toBe(1);
      // The test upstream answers chunked: the body was counted as it passed, the record written after.
      expect(record).not.toHaveProperty("logged_at");
      expect(JSON.stringify(record)).not.toContain("q=1");
    }
    // Every line carrying a record is that whole JSON object, with every field the format names.
    const recordLines = worker.logs.filter((line) => line.includes("request_id"));
    expect(recordLines.length).toBeGreaterThanOrEqual(ids.length);
    for (const record of parseLines(recordLines)) for (const field of FIELDS) expect(record).toHaveProperty(field);
  });

  it("writes a body of declared length's record when the response is handed to workerd", async () => {
    const declared = await startDeclaredUpstream();
    const other = await startWorker({
      BACKENDS: declared.url,
      LOG_FORMAT: "json",
      LOG_REQUESTS: "true",
    });
    try {
      const response = await other.fetch("/d", { headers: { "x-request-id": "workerd-declared" } });
      expect(await response.text()).toBe("declared\n");
      const recordOf = () => jsonRecords(other.logs).find((record) => record["request_id"] === "workerd-declared");
      await until(() => recordOf() !== undefined, 10_000, "the record");
      expect(recordOf()!["bytes_out"]).toBe(9);
      expect(recordOf()!["logged_at"]).toBe("headers");
      expect(recordOf()).not.toHaveProperty("aborted");
    } finally {
      await other.dispose();
      await declared.close();
    }
  });
});

// Node only: Deno's `completed` resolves for a body broken off too, and Workers and Bun report no
// end of a body of declared length (README, Logs).
describe.each(["node"] as ServerRuntime[])("LOG_FORMAT=json on %s: a body the client breaks off", (runtime) => {
  it("writes the record when the client goes, marked aborted, with no byte count it cannot know", async () => {
    const stalling = await startStallingUpstream();
    const lb = await startServer(runtime, [`--backends=${stalling.url}`], { LOG_FORMAT: "json" });
    try {
      const id = `${runtime}-broken-off`;
      await breakOffAfterSomeBody(lb.url, "/big", id);
      const recordOf = () => requestRecords(parseLines(lb.stdout)).find((o) => o["request_id"] === id);
      await until(() => recordOf() !== undefined, 10_000, "the record");
      expect(recordOf()).toMatchObject({ status: 200, aborted: true, bytes_out: null });
      expect(recordOf()).not.toHaveProperty("logged_at");
    } finally {
      await lb.stop();
      await stalling.close();
    }
  });
});

/** An upstream that takes requests and never answers them; `received` counts them. */
async function startSilentUpstream(): Promise<{ url: string; received(): number; close(): Promise<void> }> {
  let received = 0;
  const server = createServer(() => {
    received++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// nginx's 499: the client hung up while the backend was still thinking. Not the client's 400,
// and not the backend's fault (its health and the error count stay as they were).
describe.each(["node", "bun", "deno"] as ServerRuntime[])(
  "LOG_FORMAT=json on %s: a client that hangs up first",
  (runtime) => {
    it("writes the record at once as 499, marked aborted, the backend not blamed", async () => {
      const silent = await startSilentUpstream();
      const lb = await startServer(runtime, [`--backends=${silent.url}`], { LOG_FORMAT: "json", ADMIN_TOKEN });
      try {
        const id = `${runtime}-hung-up`;
        const socket = sendRawGet(lb.url, "/wait", id);
        socket.on("error", () => undefined);
        await until(() => silent.received() === 1, 10_000, "the request at the upstream");
        socket.destroy();
        const recordOf = () => requestRecords(parseLines(lb.stdout)).find((o) => o["request_id"] === id);
        await until(() => recordOf() !== undefined, 10_000, "the record");
        expect(recordOf()).toMatchObject({ status: 499, aborted: true, attempts: 1, bytes_out: 0 });
        const metrics = await fetch(`${lb.url}/_lb/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        const failures = (await metrics.text())
          .split("\n")
          .filter((line) => line.startsWith("edge_lb_attempt_failures_total"));
        expect(failures.filter((line) => !line.endsWith(" 0"))).toEqual([]);
      } finally {
        await lb.stop();
        await silent.close();
      }
    });
  },
);
