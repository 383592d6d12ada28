// The request id's rule, the JSON access record's life (counted body, one record when it ends,
// the server's own "sent" where it has one, at hand-over where the runtime cannot say) and what LOG_FORMAT makes of lines and events.
import { describe, expect, it, vi } from "vitest";
import { loggingOf } from "../../src/app/logging.ts";
import { type AccessRecord, isoTime, RequestTrace, recordEach, type SentWatch } from "../../src/proxy/request-trace.ts";
import { isSaneId, requestIdOf } from "../../src/shared/request-id.ts";

/** A server's word on a body, given after the handler has returned (as Node's 'close' is). */
const sentWhole: SentWatch = (settled) => queueMicrotask(() => settled(true));
const brokenOff: SentWatch = (settled) => queueMicrotask(() => settled(false));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("request ids", () => {
  it("keeps 1-128 visible ASCII characters and replaces anything else with a UUID", () => {
    for (const id of ["a", "x".repeat(128), "req-1_2.3~!#$%&'*+^`|", '"quoted"', "{json}"]) {
      expect(requestIdOf(id)).toBe(id);
    }
    for (const id of [null, undefined, "", "x".repeat(129), "has space", "tab\t", "new\nline", "é", "\u0000"]) {
      expect(requestIdOf(id)).toMatch(UUID);
    }
    expect(isSaneId("\u007f")).toBe(false);
    expect(requestIdOf(null)).not.toBe(requestIdOf(null));
  });
});

describe("RequestTrace", () => {
  const traced = (method = "POST") => {
    const records: AccessRecord[] = [];
    const trace = new RequestTrace(
      recordEach((r) => records.push(r)),
      "id-1",
      method,
      "lb.test",
      "/p/a?token=secret",
      "203.0.113.9",
    );
    trace.pool = "default";
    trace.attempts = 1;
    trace.backend = "a:80";
    trace.upstreamMs = 1.234;
    trace.bytesIn = 7;
    return { trace, records };
  };
  const chunked = (...chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });

  it("writes one record after the body has passed, its bytes counted and the query cut", async () => {
    const { trace, records } = traced();
    const response = trace.finish(new Response(chunked("hello", " ", "world"), { status: 201 }), {
      signal: new AbortController().signal,
    });
    expect(records).toEqual([]);
    expect(await response.text()).toBe("hello world");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      request_id: "id-1",
      method: "POST",
      host: "lb.test",
      path: "/p/a",
      status: 201,
      pool: "default",
      backend: "a:80",
      attempts: 1,
      upstream_ms: 1.23,
      bytes_in: 7,
      bytes_out: 11,
      client_ip: "203.0.113.9",
    });
    expect(records[0]).not.toHaveProperty("aborted");
    expect(records[0]!.total_ms).toBeGreaterThanOrEqual(0);
    trace.end(false);
    expect(records).toHaveLength(1);
  });

  it("marks a body the client broke off, with the bytes that had passed", async () => {
    const { trace, records } = traced();
    const client = new AbortController();
    const response = trace.finish(new Response(chunked("abc", "def")), { signal: client.signal });
    const reader = response.body!.getReader();
    await reader.read();
    client.abort();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ aborted: true, bytes_out: 3 });
  });

  it("still cancels the upstream body when the client's signal fired before the stream was cancelled", async () => {
    const { trace, records } = traced();
    let upstreamCancelled = false;
    const upstream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("abc"));
      },
      cancel() {
        upstreamCancelled = true;
      },
    });
    const client = new AbortController();
    const response = trace.finish(new Response(upstream), { signal: client.signal });
    const reader = response.body!.getReader();
    await reader.read();
    client.abort();
    await reader.cancel("client gone");
    expect(upstreamCancelled).toBe(true);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ aborted: true, bytes_out: 3 });
  });

  it("leaves a declared body to a server that says when it was sent", async () => {
    const ok = traced();
    const body = new Response("twelve bytes", { headers: { "content-length": "12" } });
    const response = ok.trace.finish(body, { signal: new AbortController().signal }, sentWhole);
    expect(response).toBe(body);
    await Promise.resolve();
    await Promise.resolve();
    expect(ok.records[0]).toMatchObject({ bytes_out: 12 });
    const broken = traced();
    broken.trace.finish(
      new Response("twelve bytes", { headers: { "content-length": "12" } }),
      { signal: new AbortController().signal },
      brokenOff,
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(broken.records[0]).toMatchObject({ aborted: true, bytes_out: null });
  });

  it("takes the length the upstream client read off the head for that response only, not its headers", async () => {
    const read = traced();
    const upstream = new Response("twelve bytes", { headers: { "content-length": "12" } });
    // What node-upstream.ts read off the head, without a Headers.get: this response, and no other.
    read.trace.declared(upstream, 12);
    const get = vi.spyOn(upstream.headers, "get");
    read.trace.finish(upstream, { signal: new AbortController().signal }, sentWhole);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(get).not.toHaveBeenCalled();
    expect(read.records[0]).toMatchObject({ bytes_out: 12 });
    // A response made since (an error answer, a copy with a cookie) has its own headers read.
    const replaced = traced();
    replaced.trace.declared(upstream, 12);
    const other = new Response("five!", { headers: { "content-length": "5" } });
    replaced.trace.finish(other, { signal: new AbortController().signal }, sentWhole);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(replaced.records[0]).toMatchObject({ bytes_out: 5 });
  });

  it("reads neither the body nor the client's signal of a declared body left to the server", async () => {
    const { trace, records } = traced();
    const body = new Response("twelve bytes", { headers: { "content-length": "12" } });
    Object.defineProperty(body, "body", {
      get: () => {
        throw new Error("body read");
      },
    });
    const request = {
      get signal(): AbortSignal {
        throw new Error("signal read");
      },
    };
    expect(trace.finish(body, request, sentWhole)).toBe(body);
    await Promise.resolve();
    await Promise.resolve();
    expect(records[0]).toMatchObject({ bytes_out: 12 });
  });

  it("counts no body bytes for HEAD and for 204/304, whatever their Content-Length says", () => {
    const head = traced("HEAD");
    head.trace.finish(
      new Response(null, { headers: { "content-length": "12" } }),
      { signal: new AbortController().signal },
      sentWhole,
    );
    expect(head.records[0]).toMatchObject({ status: 200, bytes_out: 0 });
    const notModified = traced();
    notModified.trace.finish(
      new Response(null, { status: 304, headers: { "content-length": "12" } }),
      { signal: new AbortController().signal },
      "unobserved",
    );
    expect(notModified.records[0]).toMatchObject({ status: 304, bytes_out: 0 });
    expect(notModified.records[0]).not.toHaveProperty("logged_at");
  });

  it("writes a declared body's record when it is handed to a runtime that cannot watch it", async () => {
    const { trace, records } = traced();
    const body = new Response("twelve bytes", { headers: { "content-length": "12" } });
    expect(trace.finish(body, { signal: new AbortController().signal }, "unobserved")).toBe(body);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ bytes_out: 12, logged_at: "headers" });
    expect(records[0]).not.toHaveProperty("aborted");
    // A body of unknown length is still counted through a stream, and written when it ends.
    const chunked = traced();
    const counted = chunked.trace.finish(
      new Response("eleven byte"),
      { signal: new AbortController().signal },
      "unobserved",
    );
    expect(chunked.records).toHaveLength(0);
    expect(await counted.text()).toBe("eleven byte");
    expect(chunked.records[0]).toMatchObject({ bytes_out: 11 });
    expect(chunked.records[0]).not.toHaveProperty("logged_at");
  });

  it("writes time as toISOString does, the second's prefix reused", () => {
    for (const ms of [0, 7, 99, 100, 999, 1_000, 1_764_686_289_120, 1_764_686_289_005, 1_764_686_290_000, -1, -1_001]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it("writes a bodiless answer at once; route and affinity only when they apply", () => {
    const { trace, records } = traced();
    trace.finish(new Response(null, { status: 204 }), { signal: new AbortController().signal });
    expect(records[0]).toMatchObject({ status: 204, bytes_out: 0 });
    expect(records[0]).not.toHaveProperty("route");
    expect(records[0]).not.toHaveProperty("affinity");
    const routed = traced();
    routed.trace.route = "api";
    routed.trace.affinity = "kept";
    routed.trace.finish(new Response(null, { status: 204 }), { signal: new AbortController().signal });
    expect(routed.records[0]).toMatchObject({ route: "api", affinity: "kept" });
  });
});

describe("LOG_FORMAT", () => {
  it("text passes lines as they are and has no access log", () => {
    const lines: string[] = [];
    const logging = loggingOf({ log_format: "text", log_requests: true }, { line: (l) => lines.push(l) });
    logging.log("a [down] (x)", { event: "down", backend: "a" });
    expect(lines).toEqual(["a [down] (x)"]);
    expect(logging.forwarding).toBe(true);
    expect(logging.access).toBeUndefined();
  });

  it("json writes events and lines as objects, and the access log unless LOG_REQUESTS=false", () => {
    const records: object[] = [];
    const logging = loggingOf({ log_format: "json", log_requests: true }, { record: (r) => records.push(r) });
    logging.log("a [down] (x)", { event: "down", backend: "a", reason: "x" });
    logging.log("hello");
    expect(records).toEqual([
      { time: expect.any(String), event: "down", backend: "a", reason: "x" },
      { time: expect.any(String), msg: "hello" },
    ]);
    expect(logging.forwarding).toBe(false);
    expect(logging.access).toBeDefined();
    expect(loggingOf({ log_format: "json", log_requests: false }, {}).access).toBeUndefined();
  });
});
