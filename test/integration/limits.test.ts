// Request limits on a real Node balancer: each answers a JSON error before (or instead of)
// bothering a backend, and the balancer keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { exchange } from "../support/raw-http.ts";
import { type RunningServer, startServer } from "../support/runtimes.ts";

describe("request limits (Node)", () => {
  let upstream: Upstream;
  let lb: RunningServer;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    lb = await startServer("node", [`--backends=${upstream.url}`, "--log-requests=false"], {
      MAX_URL_BYTES: "300",
      MAX_HEADER_BYTES: "4000",
      MAX_REQUEST_BODY_BYTES: "200000",
    });
  });
  afterAll(async () => {
    await lb?.stop();
    await upstream?.close();
  });

  const errorOf = async (response: Response) => ((await response.json()) as { error: string }).error;

  it("414 for a request target over MAX_URL_BYTES; 299 bytes pass", async () => {
    const long = await fetch(`${lb.url}/${"a".repeat(300)}`);
    expect(long.status).toBe(414);
    expect(await errorOf(long)).toBe("uri_too_long");
    const fits = await fetch(`${lb.url}/${"a".repeat(298)}`);
    expect(fits.status).toBe(200);
    await fits.arrayBuffer();
  });

  it("431 for headers over MAX_HEADER_BYTES", async () => {
    const before = upstream.started;
    const big = await fetch(`${lb.url}/h`, { headers: { "x-big": "v".repeat(5000) } });
    expect(big.status).toBe(431);
    expect(await errorOf(big)).toBe("request_header_fields_too_large");
    expect(upstream.started).toBe(before);
  });

  it("413 for a declared Content-Length over MAX_REQUEST_BODY_BYTES, before any backend is asked", async () => {
    const before = upstream.started;
    const outcome = await exchange(
      Buffer.from(
        `POST /big HTTP/1.1\r\nHost: lb.test\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n${"x".repeat(1000)}`,
      ),
      { port: lb.port, deadlineMs: 5_000 },
    );
    expect(outcome.kind === "response" && outcome.response.status).toBe(413);
    expect(upstream.started).toBe(before);
  });

  it("413 for a chunked body that grows past the limit while it streams; a body under it arrives whole", async () => {
    const chunk = "y".repeat(50_000);
    const framed = (count: number) =>
      `${Array.from({ length: count }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join("")}0\r\n\r\n`;
    const head = "POST /stream HTTP/1.1\r\nHost: lb.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    const over = await exchange(Buffer.from(head + framed(6)), { port: lb.port, deadlineMs: 10_000 });
    expect(over.kind === "response" && over.response.status).toBe(413);

    const under = await exchange(Buffer.from(head + framed(3)), { port: lb.port, deadlineMs: 10_000 });
    expect(under.kind === "response" && under.response.status).toBe(200);
    expect(upstream.received[upstream.received.length - 1]!.bodyLength).toBe(150_000);
  });

  it("keeps serving afterwards", async () => {
    const response = await fetch(`${lb.url}/still-here`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("Hello from a");
  });
});
