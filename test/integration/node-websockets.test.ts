// WebSockets through the Node balancer, which tunnels their bytes: real balancer processes, real
// upstreams (scripts/upstream.ts), the `ws` package as the client. Every wait ends on an event
// or a bounded poll.
import type { IncomingMessage } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket, { type RawData, WebSocketServer } from "ws";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { type RunningServer, startServer } from "../support/runtimes.ts";
import { ADMIN_TOKEN } from "../support/worker.ts";

interface Message {
  readonly data: Buffer;
  readonly binary: boolean;
}

/** A connected client with its messages and its close queued as they arrive. */
interface Client {
  readonly ws: WebSocket;
  next(): Promise<Message>;
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
}

function open(url: string, protocols: string[] = [], options: WebSocket.ClientOptions = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    const queued: Message[] = [];
    const waiting: ((message: Message) => void)[] = [];
    ws.on("message", (data: RawData, binary: boolean) => {
      const message = { data: Buffer.from(data as Buffer), binary };
      const waiter = waiting.shift();
      if (waiter) waiter(message);
      else queued.push(message);
    });
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
      ws.once("close", (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
    );
    ws.once("open", () =>
      resolve({
        ws,
        closed,
        next: () => {
          const message = queued.shift();
          if (message) return Promise.resolve(message);
          return new Promise((done) => waiting.push(done));
        },
      }),
    );
    ws.once("unexpected-response", (_request, response: IncomingMessage) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () =>
        reject(Object.assign(new Error("refused"), { status: response.statusCode, response, body })),
      );
    });
    ws.once("error", reject);
  });
}

/** The answer to an upgrade that is refused: status, headers and body. */
async function refused(url: string): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  const error = (await open(url).then(
    () => {
      throw new Error("the upgrade was accepted");
    },
    (e: unknown) => e,
  )) as { status?: number; response?: IncomingMessage; body?: string };
  if (error.status === undefined) throw error;
  return { status: error.status, headers: error.response!.headers, body: error.body! };
}

const wsUrl = (lb: RunningServer, path = "/ws") => `ws://127.0.0.1:${lb.port}${path}`;

describe("Node: WebSockets through the balancer", () => {
  let upstream: Upstream;
  let lb: RunningServer;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "a" });
    lb = await startServer("node", [`--backends=${upstream.url}`], { LOG_REQUESTS: "true", ADMIN_TOKEN });
  });
  afterAll(async () => {
    await lb?.stop();
    await upstream?.close();
  });

  it("echoes text and binary messages, keeping their type, and logs the forward", async () => {
    const client = await open(wsUrl(lb));
    client.ws.send("hello");
    const text = await client.next();
    expect(text).toEqual({ data: Buffer.from("hello"), binary: false });
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    client.ws.send(bytes);
    expect(await client.next()).toEqual({ data: bytes, binary: true });
    // Large enough to span many TCP reads and a 64-bit length.
    const large = Buffer.alloc(200_000, 7);
    client.ws.send(large);
    expect((await client.next()).data.equals(large)).toBe(true);
    client.ws.close(1000);
    await client.closed;
    // Log lines reach stdout within 20 ms of being logged (the batched writer): polled, not read once.
    await expect
      .poll(() => lb.stdout.some((line) => line.endsWith(`Forwarding request to: ${upstream.url}`)))
      .toBe(true);
  });

  it("passes the subprotocol the upstream picked and the client's address", async () => {
    const client = await open(wsUrl(lb, "/ws?x=1"), ["a", "b"]);
    expect(client.ws.protocol).toBe("b");
    const headers = upstream.streams.upgradeHeaders.at(-1)!;
    const value = (name: string) => headers[headers.findIndex((h) => h.toLowerCase() === name) + 1];
    // The client's header as it sent it (ws joins with a bare comma).
    expect(value("sec-websocket-protocol")).toBe("a,b");
    expect(value("x-forwarded-for")).toBe("127.0.0.1");
    expect(value("host")).toBe(upstream.url.replace("http://", ""));
    client.ws.close();
    await client.closed;
  });

  it("counts an open WebSocket in flight on its backend until either side closes it", async () => {
    const inflight = async () => {
      const response = await fetch(`${lb.url}/_lb/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = (await response.json()) as { pools: { backends: { inflight: number }[] }[] };
      return body.pools[0]!.backends[0]!.inflight;
    };
    const first = await open(wsUrl(lb));
    const second = await open(wsUrl(lb));
    expect(await inflight()).toBe(2);
    first.ws.close(1000);
    await first.closed;
    await expect.poll(inflight).toBe(1);
    second.ws.send("close:1000:done");
    await second.closed;
    await expect.poll(inflight).toBe(0);
  });

  it("answers an upgrade to the balancer's own routes itself", async () => {
    const health = await refused(wsUrl(lb, "/_lb/healthz"));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ ok: true });
    expect(health.headers.connection).toBe("close");
    expect((await refused(wsUrl(lb, "/_lb/status"))).status).toBe(401);
  });

  it("refuses an upgrade with a Host that is not a host (400)", async () => {
    const text = await rawExchange(
      lb.port,
      "GET /ws HTTP/1.1\r\nHost: a@b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it("serves an upgrade to something else (h2c) as the plain request it is, pipelined, body and keep-alive included", async () => {
    const body = "x".repeat(1000);
    const request = (path: string, extra: string, content: string) =>
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Content-Length: ${content.length}\r\n\r\n${content}`;
    const h2c = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n";
    // One write: the upgrade comes in behind a request still being answered, and before another.
    const text = await rawExchange(
      lb.port,
      request("/echo/0", "", "before") +
        request("/echo/1", h2c, body) +
        request("/echo/2", "Connection: close\r\n", "abc"),
    );
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(3);
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[0]).toContain('"target":"/echo/0"');
    expect(answers[1]).toContain('"target":"/echo/1"');
    expect(answers[1]).toContain('"bodyLength":1000');
    expect(answers[1]).not.toMatch(/"upgrade"/i);
    expect(answers[2]).toContain('"target":"/echo/2"');
  });
});

/** Sends `request` on a raw connection and resolves with everything the balancer sent until it closed. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close; got ${JSON.stringify(text)}`));
    }, 10_000);
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on("error", () => undefined);
    socket.write(request);
  });
}

describe("Node: WebSocket backends and lifetimes", () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream({ name: "live" });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it("gives up on a backend that does not answer the handshake within timeout_ms and upgrades on the next", async () => {
    // Takes the connection, reads the handshake, never answers.
    const held = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      // Reading, so the balancer's hang-up is seen.
      held.add(socket.on("error", () => undefined).resume());
      socket.on("close", () => held.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const mute = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const lb = await startServer(
      "node",
      [`--backends=${mute},${upstream.url}`, "--algorithm=round-robin", "--timeout-ms=300"],
      {
        LOG_REQUESTS: "true",
      },
    );
    try {
      for (let i = 0; i < 2; i++) {
        const client = await open(wsUrl(lb));
        client.ws.send("x");
        await client.next();
        client.ws.close();
        await client.closed;
      }
      await expect.poll(() => lb.stdout.some((line) => line.includes(`${mute}: upgrade failed (timeout)`))).toBe(true);
      // The balancer hung up on the silent backend when it gave up on it.
      await expect.poll(() => held.size).toBe(0);
    } finally {
      await lb.stop();
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("keeps a quiet WebSocket open past the HTTP idle and header timeouts", async () => {
    const lb = await startServer("node", [`--backends=${upstream.url}`, "--log-requests=false"], {
      IDLE_TIMEOUT_MS: "200",
      HEADER_TIMEOUT_MS: "200",
    });
    try {
      const client = await open(wsUrl(lb));
      let closedEarly = false;
      void client.closed.then(() => (closedEarly = true));
      // Quiet for several times both limits (and several of node:http's connection checks).
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect(closedEarly).toBe(false);
      client.ws.send("still here");
      expect((await client.next()).data.toString()).toBe("still here");
      client.ws.close();
      await client.closed;
    } finally {
      await lb.stop();
    }
  });

  it("lets the drain finish as soon as an open WebSocket closes during it", async () => {
    const lb = await startServer("node", [`--backends=${upstream.url}`, "--log-requests=false"], {
      SHUTDOWN_TIMEOUT_MS: "20000",
    });
    const client = await open(wsUrl(lb));
    lb.process.kill("SIGTERM");
    await expect.poll(() => lb.stdout.some((line) => line.includes("SIGTERM: shutting down"))).toBe(true);
    // Still open while the balancer drains.
    client.ws.send("during the drain");
    expect((await client.next()).data.toString()).toBe("during the drain");
    const closing = Date.now();
    client.ws.close(1000, "done");
    expect(await lb.exited).toBe(0);
    expect(Date.now() - closing).toBeLessThan(5_000);
    expect(lb.stdout.some((line) => line.includes("still in flight"))).toBe(false);
  });

  it("honours preserve_host: the upstream's Host is the client's", async () => {
    const lb = await startServer("node", [
      `--backends=${upstream.url}`,
      "--preserve-host=true",
      "--log-requests=false",
    ]);
    try {
      const client = await open(wsUrl(lb), [], { headers: { host: "app.example:8443" } });
      const headers = upstream.streams.upgradeHeaders.at(-1)!;
      expect(headers.filter((_, i) => i % 2 === 0 && headers[i]!.toLowerCase() === "host")).toHaveLength(1);
      expect(headers[headers.findIndex((h) => h.toLowerCase() === "host") + 1]).toBe("app.example:8443");
      client.ws.close();
      await client.closed;
    } finally {
      await lb.stop();
    }
  });
});

describe("Node: permessage-deflate passes end to end", () => {
  let server: WebSocketServer;
  let lb: RunningServer;
  const negotiated: string[] = [];

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: { threshold: 0 } });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    server.on("connection", (ws, request) => {
      negotiated.push(request.headers["sec-websocket-extensions"] ?? "");
      ws.on("message", (data, binary) => ws.send(data, { binary }));
    });
    const { port } = server.address() as { port: number };
    lb = await startServer("node", [`--backends=http://127.0.0.1:${port}`, "--log-requests=false"]);
  });
  afterAll(async () => {
    await lb?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  it("negotiates the extension between client and upstream and carries compressed messages", async () => {
    const client = await open(wsUrl(lb), [], { perMessageDeflate: true });
    expect(client.ws.extensions).toContain("permessage-deflate");
    expect(negotiated.at(-1)).toContain("permessage-deflate");
    const text = "compress me ".repeat(5_000);
    client.ws.send(text);
    expect((await client.next()).data.toString()).toBe(text);
    client.ws.close(1000);
    expect((await client.closed).code).toBe(1000);
  });
});
