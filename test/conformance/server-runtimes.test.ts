// What only the server runtimes (Node, Bun, Deno) have: a socket, so a client address that a
// client cannot forge unless its peer is a trusted proxy; and a process, so graceful shutdown.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Upstream } from "../../scripts/upstream.ts";
import { type RunningServer, runServer, SERVER_RUNTIMES, startServer } from "../support/runtimes.ts";
import { backendsOf, startUpstreams, tally } from "../support/upstreams.ts";

/** Resolves "open" when a TCP connection to the port succeeds, "refused" when it is refused. */
function probe(port: number): Promise<"open" | "refused" | string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve("open");
    });
    socket.once("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ECONNREFUSED" ? "refused" : String(error.code)),
    );
  });
}

/** Every value of header `name` among raw [name, value, ...] pairs. */
const headerOf = (rawHeaders: readonly string[], name: string) =>
  rawHeaders.flatMap((value, i) => (i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === name ? [value] : []));

describe.each(SERVER_RUNTIMES)("on %s", (runtime) => {
  describe("the client address", () => {
    let upstreams: Upstream[];
    let untrusting: RunningServer;
    let trusting: RunningServer;

    beforeAll(async () => {
      upstreams = await startUpstreams(["x1", "x2", "x3"]);
      const args = [`--backends=${backendsOf(upstreams)}`, "--algorithm=ip-hash", "--log-requests=false"];
      [untrusting, trusting] = await Promise.all([
        startServer(runtime, args),
        startServer(runtime, [...args, "--trust-proxy=10.0.0.0/8,127.0.0.1/32"]),
      ]);
    });
    afterAll(async () => {
      await Promise.all([untrusting?.stop(), trusting?.stop()]);
      await Promise.all((upstreams ?? []).map((u) => u.close()));
    });

    const forged = (i: number) => `203.0.113.${i + 1}`;

    async function spread(server: RunningServer) {
      const responses: Response[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await fetch(`${server.url}/ip/${i}`, { headers: { "x-forwarded-for": forged(i) } });
        await response.arrayBuffer();
        responses.push(response);
      }
      expect(responses.every((r) => r.status === 200)).toBe(true);
      return tally(responses);
    }

    it("prints the seed's start-up lines", () => {
      const stamp = String.raw`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d `;
      expect(untrusting.stdout.slice(0, 3)).toEqual(
        upstreams.map((u) => expect.stringMatching(new RegExp(`${stamp}Added backend: ${u.url}$`))),
      );
      expect(untrusting.stdout).toContainEqual(
        expect.stringMatching(new RegExp(`${stamp}Load Balancer started at :${untrusting.port}$`)),
      );
      expect(trusting.stdout).toContainEqual(
        expect.stringMatching(/Trusting X-Forwarded-For from: 10\.0\.0\.0\/8, 127\.0\.0\.1\/32$/),
      );
    });

    it("ip-hash ignores X-Forwarded-For from an untrusted peer: 30 forged values, one backend", async () => {
      expect(Object.keys(await spread(untrusting))).toHaveLength(1);
      const response = await fetch(`${untrusting.url}/echo`, { headers: { "x-forwarded-for": "6.6.6.6" } });
      const { rawHeaders } = (await response.json()) as { rawHeaders: string[] };
      expect(headerOf(rawHeaders, "x-forwarded-for")).toEqual(["6.6.6.6, 127.0.0.1"]);
    });

    it("with --trust-proxy covering the peer, X-Forwarded-For is the client: 30 values spread", async () => {
      const counts = await spread(trusting);
      expect(Object.keys(counts).sort()).toEqual(["x1", "x2", "x3"]);
      // The right-most untrusted address is the client; trusted hops to its right are skipped.
      const response = await fetch(`${trusting.url}/echo`, {
        headers: { "x-forwarded-for": "6.6.6.6, 198.51.100.4, 10.1.2.3" },
      });
      const { rawHeaders } = (await response.json()) as { rawHeaders: string[] };
      const [xff] = headerOf(rawHeaders, "x-forwarded-for");
      // The balancer appends the client it settled on, as nginx's realip plus
      // $proxy_add_x_forwarded_for does: the upstream's right-most entry is the client.
      expect(xff?.split(", ").at(-1)).toBe("198.51.100.4");
      expect(xff?.startsWith("6.6.6.6, 198.51.100.4, 10.1.2.3")).toBe(true);
    });

    it("SIGINT on an idle balancer exits 0", async () => {
      expect(await untrusting.stop("SIGINT")).toBe(0);
      expect(untrusting.stdout.some((line) => line.endsWith("shutdown complete"))).toBe(true);
    });
  });

  it("exits 1 with the seed's message when no backends are given", async () => {
    const result = await runServer(runtime, ["--port=0"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Please provide one or more backends to load balance");
  });

  it("refuses a bad --trust-proxy network, naming the flag and the value", async () => {
    const result = await runServer(runtime, [
      "--backends=http://127.0.0.1:9",
      "--port=0",
      "--trust-proxy=10.0.0.0/8,10.0.0.0/33",
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("--trust-proxy");
    expect(result.stderr).toContain("10.0.0.0/33");
    expect(result.stdout).not.toContain("Load Balancer started");
  });

  describe("graceful shutdown", () => {
    let upstreams: Upstream[];
    let lb: RunningServer;

    beforeAll(async () => {
      upstreams = await startUpstreams(["slow"]);
      upstreams[0]!.mode = { kind: "delay", ms: 1000 };
      lb = await startServer(runtime, [`--backends=${backendsOf(upstreams)}`, "--log-requests=false"]);
    });
    afterAll(async () => {
      await lb?.stop("SIGKILL");
      await Promise.all((upstreams ?? []).map((u) => u.close()));
    });

    it("SIGTERM with 200 slow requests in flight: it stops accepting, every one completes with 200, exit 0", async () => {
      let settled = 0;
      const requests = Array.from({ length: 200 }, (_, i) =>
        fetch(`${lb.url}/slow/${i}`)
          .then(async (response) => ({ status: response.status, body: await response.text() }))
          .finally(() => settled++),
      );
      // Every request has reached the upstream (and waits there for a second): they are in flight.
      await expect.poll(() => upstreams[0]!.received.length, { timeout: 10_000, interval: 20 }).toBe(200);
      const inFlightAtSignal = 200 - settled;
      lb.process.kill("SIGTERM");
      // Each waits a second upstream; even on a loaded machine most are still waiting now.
      expect(inFlightAtSignal).toBeGreaterThanOrEqual(100);
      // The listener closes at once, while the 200 are still waiting on the upstream.
      await expect.poll(() => probe(lb.port), { timeout: 5_000, interval: 20 }).toBe("refused");
      expect(settled).toBeLessThan(200);
      const results = await Promise.all(requests);
      expect(results.filter((r) => r.status === 200 && r.body === "Hello from slow\n")).toHaveLength(200);
      expect(await lb.exited).toBe(0);
      expect(lb.stdout.some((line) => line.includes("SIGTERM: shutting down"))).toBe(true);
      expect(lb.stdout.some((line) => line.endsWith("shutdown complete"))).toBe(true);
      expect(upstreams[0]!.received).toHaveLength(200);
    });
  });
});
