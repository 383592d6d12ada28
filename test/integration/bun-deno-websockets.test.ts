// WebSockets through the Bun and Deno balancers, which relay them message by message (their
// server upgrade on the client's side, the ws client on the backend's): real processes, real
// upstreams, a ws client talking only to 127.0.0.1. Waits end on events or bounded polls.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { Upstream } from "../../scripts/upstream.ts";
import { type RunningServer, startServer } from "../support/runtimes.ts";
import { startUpstreams } from "../support/upstreams.ts";

interface Received {
  readonly data: Buffer;
  readonly binary: boolean;
}

interface Client {
  readonly ws: WebSocket;
  readonly received: Received[];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `count` messages have arrived in all. */
  messages(count: number): Promise<Received[]>;
}

const DEADLINE_MS = 10_000;

function connect(url: string, protocols: string[] = []): Promise<Client> {
  const ws = new WebSocket(url, protocols);
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (data: Buffer, binary: boolean) => {
    received.push({ data, binary });
    for (const wake of waiters) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  const client: Client = {
    ws,
    received,
    closed,
    messages: (count) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (received.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(received.slice(0, count));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${received.length} of ${count} messages within ${DEADLINE_MS} ms`));
        }, DEADLINE_MS);
        waiters.add(check);
        check();
      }),
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res: IncomingMessage) => reject(new Error(`status ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** The handshake answer of an upgrade the backend refuses: status, headers and body. */
function refusedHandshake(url: string): Promise<{ status: number; upstream: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once("open", () => reject(new Error("the upgrade was accepted")));
    ws.on("error", () => undefined);
    ws.once("unexpected-response", (req, res: IncomingMessage) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.once("end", () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, upstream: res.headers["x-upstream"] as string | undefined, body });
      });
    });
  });
}

/** Polls `probe` every 10 ms until it returns a value, at most `deadlineMs`. */
async function until<T>(probe: () => T | undefined, deadlineMs = DEADLINE_MS): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`not within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(["bun", "deno"] as const)("WebSockets through the %s balancer", (runtime) => {
  let live: Upstream;
  let dead: Upstream;
  let lb: RunningServer;
  let wsUrl: string;

  beforeAll(async () => {
    const upstreams = await startUpstreams([`${runtime}-ws-live`, `${runtime}-ws-dead`]);
    live = upstreams[0]!;
    dead = upstreams[1]!;
    await dead.close();
    // Round robin over a closed port and a live one: every other upgrade is tried on the closed one first.
    // IDLE_TIMEOUT_MS is for HTTP connections (Deno has none): an open WebSocket is not one.
    lb = await startServer(runtime, [`--backends=${dead.url},${live.url}`], {
      LOG_REQUESTS: "true",
      IDLE_TIMEOUT_MS: "1000",
    });
    wsUrl = lb.url.replace(/^http/, "ws");
  });

  afterAll(async () => {
    await lb?.stop();
    await live?.close();
  });

  it("echoes text and binary messages intact, in order and with their type (a 1 MiB one among them)", async () => {
    const client = await connect(`${wsUrl}/ws/echo`);
    const large = randomBytes(1024 * 1024);
    const small = Buffer.from([0, 1, 2, 255]);
    client.ws.send("first");
    client.ws.send(large, { binary: true });
    client.ws.send("héllo ✓");
    client.ws.send(small, { binary: true });
    client.ws.send("");
    const received = await client.messages(5);
    expect(received.map((m) => m.binary)).toEqual([false, true, false, true, false]);
    expect(received[0]!.data.toString()).toBe("first");
    expect(received[1]!.data.equals(large)).toBe(true);
    expect(received[2]!.data.toString()).toBe("héllo ✓");
    expect(received[3]!.data.equals(small)).toBe(true);
    expect(received[4]!.data.length).toBe(0);
    client.ws.close(1000, "done");
    expect(await client.closed).toEqual({ code: 1000, reason: "done" });
  });

  it("gives the client the subprotocol the backend picked", async () => {
    const client = await connect(`${wsUrl}/ws`, ["a", "b"]);
    expect(client.ws.protocol).toBe("b");
    client.ws.close();
    await client.closed;
  });

  it("passes the backend's close code and reason to the client", async () => {
    const client = await connect(`${wsUrl}/ws`);
    client.ws.send("close:4001:upstream says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "upstream says bye" });
  });

  it("passes the client's close code and reason to the backend", async () => {
    const client = await connect(`${wsUrl}/ws`);
    client.ws.close(4001, "client says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "client says bye" });
    const close = await until(() => live.streams.closes.find((c) => c.reason === "client says bye"));
    expect(close.code).toBe(4001);
  });

  it("passes a refused upgrade's status, headers and body to the client", async () => {
    const answer = await refusedHandshake(`${wsUrl}/ws/deny`);
    expect(answer).toEqual({ status: 403, upstream: `${runtime}-ws-live`, body: '{"denied":"nope!"}' });
  });

  it("skips a backend whose port is closed", async () => {
    const opened = live.streams.webSocketsOpened;
    for (let i = 0; i < 4; i++) {
      const client = await connect(`${wsUrl}/ws`);
      client.ws.send(`ping ${i}`);
      const [echo] = await client.messages(1);
      expect(echo!.data.toString()).toBe(`ping ${i}`);
      client.ws.close();
      await client.closed;
    }
    expect(live.streams.webSocketsOpened - opened).toBe(4);
    expect(lb.stdout.join("\n")).toContain(`${dead.url}: upgrade failed (unreachable)`);
  });

  it("closes the backend's side within 1 s of the client going away without a close", async () => {
    const client = await connect(`${wsUrl}/ws`);
    client.ws.send("here");
    await client.messages(1);
    const gone = Date.now();
    client.ws.terminate();
    // A client that vanished is "going away" to the backend.
    const close = await until(() => live.streams.closes.find((c) => c.at >= gone && c.code === 1001));
    expect(close.at - gone).toBeLessThan(1_000);
  });

  it("keeps a quiet WebSocket open past the HTTP idle timeout", async () => {
    const client = await connect(`${wsUrl}/ws`);
    let closed = false;
    void client.closed.then(() => (closed = true));
    // Silence on both sides for twice IDLE_TIMEOUT_MS: what is being shown is that nothing happens.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(closed).toBe(false);
    client.ws.send("still here");
    const [echo] = await client.messages(1);
    expect(echo!.data.toString()).toBe("still here");
    client.ws.close();
    await client.closed;
  });

  it("logs the upgrade as a forwarded request", async () => {
    const client = await connect(`${wsUrl}/ws`);
    client.ws.close();
    await client.closed;
    expect(lb.stdout.some((line) => line.endsWith(`Forwarding request to: ${live.url}`))).toBe(true);
  });

  it("on SIGTERM closes an open WebSocket with 1001 on both sides and exits 0", async () => {
    const server = await startServer(runtime, [`--backends=${live.url}`], { SHUTDOWN_TIMEOUT_MS: "500" });
    try {
      const client = await connect(`${server.url.replace(/^http/, "ws")}/ws`);
      client.ws.send("before shutdown");
      await client.messages(1);
      const code = await server.stop("SIGTERM");
      expect(await client.closed).toEqual({ code: 1001, reason: "server shutting down" });
      expect(code).toBe(0);
      const close = await until(() => live.streams.closes.find((c) => c.reason === "server shutting down"));
      expect(close.code).toBe(1001);
    } finally {
      await server.stop("SIGKILL");
    }
  });
});
