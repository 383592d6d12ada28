import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type RunningLb, runLb, startNodeLb } from "../support/node-lb.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";

describe("the Node CLI (the seed's command line)", () => {
  let upstreams: Upstream[];
  let lb: RunningLb;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    lb = await startNodeLb([`--backends=${backendsOf(upstreams)}`]);
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("prints the seed's start-up lines", () => {
    for (const upstream of upstreams) {
      expect(lb.stdout.some((line) => line.endsWith(`Added backend: ${upstream.url}`))).toBe(true);
    }
    expect(
      lb.stdout.some((line) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Load Balancer started at :\d+$/.test(line)),
    ).toBe(true);
  });

  it("spreads 300 GETs exactly 100/100/100 and logs each forward", async () => {
    const responses: Response[] = [];
    for (let i = 0; i < 300; i++) {
      const response = await fetch(`${lb.url}/n/${i}`);
      await response.text();
      responses.push(response);
    }
    expect(tally(responses)).toEqual({ a: 100, b: 100, c: 100 });
    await expect.poll(() => lb.stdout.filter((l) => l.includes("Forwarding request to: ")).length).toBe(300);
  });

  it("uses the socket address, not a client-sent header, as the client IP", async () => {
    const response = await fetch(`${lb.url}/echo`, { headers: { "x-forwarded-for": "6.6.6.6" } });
    const { rawHeaders } = (await response.json()) as { rawHeaders: string[] };
    const xff = rawHeaders[rawHeaders.findIndex((h) => h.toLowerCase() === "x-forwarded-for") + 1];
    expect(xff).toBe("6.6.6.6, 127.0.0.1");
  });
});

describe("the Node CLI refuses to start on bad input", () => {
  it("exits non-zero with the seed's message when no backends are given", async () => {
    const result = await runLb(["--port=0"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("Please provide one or more backends to load balance");
  });

  it("names a bad backend URL", async () => {
    const result = await runLb(["--backends=http://127.0.0.1:3031,ftp://files.example:21", "--port=0"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--backends");
    expect(result.stderr).toContain("ftp://files.example:21");
    expect(result.stderr).toMatch(/http or https/);
  });

  it("names an unknown algorithm", async () => {
    const result = await runLb(["--backends=http://127.0.0.1:3031", "--algorithm=fastest-first", "--port=0"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--algorithm");
    expect(result.stderr).toContain("fastest-first");
    expect(result.stderr).toContain("round-robin");
  });

  it("names an unknown flag and a bad port", async () => {
    const unknown = await runLb(["--backends=http://127.0.0.1:3031", "--bogus=1"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("--bogus");
    const port = await runLb(["--backends=http://127.0.0.1:3031", "--port=70000"]);
    expect(port.code).not.toBe(0);
    expect(port.stderr).toContain("--port");
  });
});

describe("the Node CLI with --preserve-host", () => {
  let upstreams: Upstream[];
  let lb: RunningLb;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b"]);
    lb = await startNodeLb([`--backends=${backendsOf(upstreams)}`, "--preserve-host=true"]);
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  const headerOf = (rawHeaders: string[], name: string) =>
    rawHeaders.flatMap((value, i) => (i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === name ? [value] : []));

  it("sends the client's Host upstream, streams bodies both ways, and keeps every Set-Cookie", async () => {
    const { request } = await import("node:http");
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        `${lb.url}/echo`,
        { method: "POST", headers: { host: "shop.example:8443", "content-type": "text/plain" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.end("payload");
    });
    const echo = JSON.parse(body) as { rawHeaders: string[]; bodyLength: number };
    expect(headerOf(echo.rawHeaders, "host")).toEqual(["shop.example:8443"]);
    expect(headerOf(echo.rawHeaders, "x-forwarded-host")).toEqual(["shop.example:8443"]);
    expect(echo.bodyLength).toBe("payload".length);
    const cookies = await fetch(`${lb.url}/cookies`);
    expect(cookies.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
  });

  it("still fails over when a backend's port is closed", async () => {
    await upstreams[0]!.close();
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await fetch(`${lb.url}/x/${i}`)).status);
    expect(statuses).toEqual(Array(10).fill(200));
    await upstreams[0]!.reopen();
  });
});

describe("the Node CLI and hostile request targets", () => {
  let upstreams: Upstream[];
  let lb: RunningLb;

  beforeAll(async () => {
    upstreams = await startUpstreams(["only"]);
    lb = await startNodeLb([`--backends=${backendsOf(upstreams)}`]);
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  /** Writes a raw HTTP/1.1 request and returns the status line and the x-upstream header. */
  async function raw(
    requestLine: string,
    host = "127.0.0.1",
  ): Promise<{ status: number; upstream: string | undefined }> {
    const { connect } = await import("node:net");
    const { port } = new URL(lb.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1");
      let text = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("error", reject);
      socket.on("close", () =>
        resolve({
          status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
          upstream: /\r\nx-upstream: ([^\r]+)/i.exec(text)?.[1],
        }),
      );
      // write, not end: a half-closed client gets no answer from Node's server.
      socket.write(`${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    });
  }

  it.each([
    ["an absolute-form target naming another host", "GET http://evil.example:9999/x HTTP/1.1", "127.0.0.1"],
    ["a target starting with //", "GET //evil.example/x HTTP/1.1", "127.0.0.1"],
    ["a target with userinfo-like @", "GET @evil.example/x HTTP/1.1", "127.0.0.1"],
    ["a Host header naming another host", "GET /x HTTP/1.1", "evil.example:9999"],
    ["a Host header with a path", "GET /x HTTP/1.1", "evil.example/path"],
  ])("%s reaches the configured backend or is refused, never another host", async (_name, line, host) => {
    const before = upstreams[0]!.received.length;
    const result = await raw(line, host);
    expect([200, 400]).toContain(result.status);
    if (result.status === 200) {
      expect(result.upstream).toBe("only");
      expect(upstreams[0]!.received.length).toBe(before + 1);
    }
    // The balancer is still serving.
    expect((await fetch(`${lb.url}/after`)).status).toBe(200);
  });
});
