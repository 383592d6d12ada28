import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { runLb, startNodeLb, type RunningLb } from "../support/node-lb.ts";
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
    expect(lb.stdout.some((line) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d Load Balancer started at :\d+$/.test(line))).toBe(true);
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
