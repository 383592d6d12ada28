import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { closeOpenClients, connect as connectTo, until } from "../support/websocket-client.ts";
import { startWorker, type WorkerInstance } from "../support/worker.ts";

const connect = (worker: WorkerInstance, path: string, protocols?: string[]) =>
  connectTo(worker.url.origin, path, protocols);

// What only the Worker does with WebSockets (test/conformance/websockets.test.ts has what every
// runtime does): the client connects to miniflare's own listener (which sets CF-Connecting-IP
// from the socket), the Worker relays to real upstreams.

afterEach(closeOpenClients);

describe("the Worker forwards a WebSocket handshake (round robin)", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin", LOG_REQUESTS: "true" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("prints the seed's Forwarding request to: line for an upgrade", async () => {
    const before = worker.logs.length;
    await connect(worker, "/ws/logged");
    await until(
      () => worker.logs.slice(before).some((line) => /Forwarding request to: http:\/\/127\.0\.0\.1:\d+/.test(line)),
      5_000,
      "the Forwarding line",
    );
  });

  it("gives the client the subprotocol the backend picked, and forwards its offer as it was", async () => {
    const before = upstreams.map((u) => u.streams.upgradeHeaders.length);
    const client = await connect(worker, "/ws/protocols", ["a", "b"]);
    expect(client.ws.protocol).toBe("b");
    const raw = upstreams.flatMap((u, i) => u.streams.upgradeHeaders.slice(before[i]));
    expect(raw).toHaveLength(1);
    const headers = new Map<string, string>();
    for (let i = 0; i < raw[0]!.length; i += 2) headers.set(raw[0]![i]!.toLowerCase(), raw[0]![i + 1]!);
    expect(headers.get("sec-websocket-protocol")).toBe("a, b");
    // miniflare's listener sets CF-Connecting-IP from the client's socket.
    expect(headers.get("x-forwarded-for")).toBe("127.0.0.1");
    // ws offers permessage-deflate; extensions are negotiated per hop, so the offer stays here.
    expect(headers.has("sec-websocket-extensions")).toBe(false);
  });
});

describe("the Worker when a side misbehaves", () => {
  let upstream: Upstream;
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "solo" });
    worker = await startWorker({ BACKENDS: upstream.url });
  });
  afterAll(async () => {
    await worker?.dispose();
    await upstream.close();
  });

  it("closes a message over workerd's 32 MiB limit with 1009, and the backend's side with 1001", async () => {
    const client = await connect(worker, "/ws/too-large");
    const closesBefore = upstream.streams.closes.length;
    // workerd refuses it itself; exactly 32 MiB (33554432 bytes) still passes.
    client.ws.send(Buffer.alloc(32 * 1024 * 1024 + 1, 1));
    expect((await client.closed).code).toBe(1009);
    await until(() => upstream.streams.closes.length > closesBefore, 5_000, "the backend's side closed");
    expect(upstream.streams.closes.at(-1)!.code).toBe(1001);
  });

  it("closes the client with 1014 when the backend vanishes without a close", async () => {
    const client = await connect(worker, "/ws/backend-vanishes");
    await upstream.close();
    try {
      expect((await client.closed).code).toBe(1014);
    } finally {
      await upstream.reopen();
    }
  });
});

describe("the Worker gives up on a backend that never answers the handshake", () => {
  let silent: Server;
  const held = new Set<Socket>();
  let live: Upstream;
  let worker: WorkerInstance;

  beforeAll(async () => {
    // Accepts connections and reads the handshake, never answers it.
    silent = createServer((socket) => {
      held.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => held.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    live = await startUpstream({ name: "live" });
    worker = await startWorker({
      BACKENDS: `http://127.0.0.1:${port},${live.url}`,
      ALGORITHM: "round-robin",
      TIMEOUT_MS: "300",
    });
  });
  afterAll(async () => {
    await worker?.dispose();
    await live?.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
  });

  it("tries the next backend after TIMEOUT_MS", async () => {
    // Two in a row under round robin: one of them has the silent backend as its first choice.
    const started = Date.now();
    await connect(worker, "/ws/one");
    await connect(worker, "/ws/two");
    expect(live.streams.webSocketsOpened).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});
