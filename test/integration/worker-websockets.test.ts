import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startUpstream, type Upstream } from "../../scripts/upstream.ts";
import { backendsOf, startUpstreams } from "../support/upstreams.ts";
import { closeOpenClients, connect as connectTo, refused as refusedBy, until } from "../support/websocket-client.ts";
import { ADMIN_TOKEN, backendStatus, startWorker, status, type WorkerInstance } from "../support/worker.ts";

const connect = (worker: WorkerInstance, path: string, protocols?: string[]) =>
  connectTo(worker.url.origin, path, protocols);
const refused = (worker: WorkerInstance, path: string) => refusedBy(worker.url.origin, path);

// WebSockets through the bundled Worker in workerd: the client connects to miniflare's own
// listener (which sets CF-Connecting-IP from the socket), the Worker relays to real upstreams.

const opened = (upstreams: readonly Upstream[]) => upstreams.map((u) => u.streams.webSocketsOpened);

afterEach(closeOpenClients);

describe("the Worker relays WebSockets to real upstreams (round robin)", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("puts three WebSockets on three different backends", async () => {
    const before = opened(upstreams);
    for (let i = 0; i < 3; i++) await connect(worker, `/ws/${i}`);
    const after = opened(upstreams);
    expect(after.map((n, i) => n - before[i]!)).toEqual([1, 1, 1]);
  });

  it("echoes text and binary messages intact and in order, a 1 MiB binary one included", async () => {
    const client = await connect(worker, "/ws/echo");
    const sent: (string | Buffer)[] = [
      "hello",
      randomBytes(16),
      "ünïcödé ✓ 日本",
      randomBytes(1024 * 1024),
      "",
      Buffer.alloc(0),
      "last",
    ];
    for (const message of sent) client.ws.send(message);
    const got = await client.received(sent.length, 20_000);
    got.forEach((message, i) => {
      const expected = sent[i]!;
      expect(message.binary, `message ${i} type`).toBe(Buffer.isBuffer(expected));
      if (Buffer.isBuffer(expected)) expect(message.data.equals(expected), `message ${i} bytes`).toBe(true);
      else expect(message.data.toString("utf8")).toBe(expected);
    });
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

  it("passes a client's close code and reason to the backend", async () => {
    const client = await connect(worker, "/ws/client-closes");
    const closesBefore = upstreams.map((u) => u.streams.closes.length);
    client.ws.close(4001, "client says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "client says bye" });
    await until(
      () => upstreams.some((u, i) => u.streams.closes.length > closesBefore[i]!),
      5_000,
      "the backend sees the close",
    );
    const closes = upstreams.flatMap((u, i) => u.streams.closes.slice(closesBefore[i]));
    expect(closes.map(({ code, reason }) => ({ code, reason }))).toEqual([{ code: 4001, reason: "client says bye" }]);
  });

  it("passes a backend's close code and reason to the client", async () => {
    const client = await connect(worker, "/ws/backend-closes");
    client.ws.send("close:4001:backend says bye");
    expect(await client.closed).toEqual({ code: 4001, reason: "backend says bye" });
  });

  it("passes a backend's refusal (403 with its body) to the client as it is", async () => {
    const answer = await refused(worker, "/ws/deny");
    expect(answer.status).toBe(403);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(answer.headers["x-upstream"]).toMatch(/^[abc]$/);
    expect(JSON.parse(answer.body)).toEqual({ denied: "nope!" });
  });

  it("closes the backend's side within 1 s of the client going away", async () => {
    const client = await connect(worker, "/ws/vanishing");
    const closesBefore = upstreams.map((u) => u.streams.closes.length);
    const gone = Date.now();
    client.ws.terminate();
    await until(
      () => upstreams.some((u, i) => u.streams.closes.length > closesBefore[i]!),
      1_000,
      "the backend sees the client leave",
    );
    const close = upstreams.flatMap((u, i) => u.streams.closes.slice(closesBefore[i]))[0]!;
    expect(close.at - gone).toBeLessThan(1_000);
    // A client gone without a close frame is "going away" to the backend.
    expect(close.code).toBe(1001);
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

describe("the Worker skips a backend whose port is closed", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;

  beforeAll(async () => {
    const closed = await startUpstream({ name: "closed" });
    await closed.close();
    upstreams = [closed, await startUpstream({ name: "live" })];
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ALGORITHM: "round-robin" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await upstreams[1]?.close();
  });

  it("opens every WebSocket on the live backend", async () => {
    // Two in a row under round robin: one of them has the closed port as its first choice.
    const first = await connect(worker, "/ws/one");
    const second = await connect(worker, "/ws/two");
    expect(upstreams[1]!.streams.webSocketsOpened).toBe(2);
    first.ws.send("still here");
    second.ws.send(Buffer.from([1, 2, 3]));
    expect((await first.received(1))[0]!.data.toString()).toBe("still here");
    expect([...(await second.received(1))[0]!.data]).toEqual([1, 2, 3]);
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

describe("the Worker counts open WebSockets as in flight (least connections)", () => {
  let upstreams: Upstream[];
  let worker: WorkerInstance;
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const act = (u: Upstream, action: string) =>
    worker.fetch(`/_lb/backends/${encodeURIComponent(new URL(u.url).host)}/${action}`, {
      method: "POST",
      headers: auth,
    });

  beforeAll(async () => {
    upstreams = await startUpstreams(["a", "b", "c"]);
    worker = await startWorker({ BACKENDS: backendsOf(upstreams), ALGORITHM: "least-connections", ADMIN_TOKEN });
  });
  afterAll(async () => {
    await worker?.dispose();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it("sends a new WebSocket elsewhere while three are open on one backend, and releases them on close", async () => {
    const [a, b, c] = upstreams as [Upstream, Upstream, Upstream];
    // Only a takes new requests while the three open; draining keeps open WebSockets open.
    for (const u of [b, c]) expect((await act(u, "drain")).status).toBe(200);
    const onA = [];
    for (let i = 0; i < 3; i++) onA.push(await connect(worker, `/ws/a/${i}`));
    expect(opened(upstreams)).toEqual([3, 0, 0]);
    expect(backendStatus(await status(worker), a.url).inflight).toBe(3);
    for (const u of [b, c]) expect((await act(u, "enable")).status).toBe(200);

    // Two sampled backends always include b or c, both less loaded than a.
    const elsewhere = [await connect(worker, "/ws/new/1"), await connect(worker, "/ws/new/2")];
    expect(a.streams.webSocketsOpened).toBe(3);
    expect(b.streams.webSocketsOpened + c.streams.webSocketsOpened).toBe(2);

    for (const client of [...onA, ...elsewhere]) client.ws.close(1000, "done");
    await Promise.all([...onA, ...elsewhere].map((client) => client.closed));
    await until(
      async () => {
        const s = await status(worker);
        return upstreams.every((u) => backendStatus(s, u.url).inflight === 0);
      },
      5_000,
      "every in-flight count released",
    );
  });
});

describe("the Worker's WebSocket idle cap (WEBSOCKET_IDLE_TIMEOUT_MS)", () => {
  let upstream: Upstream;
  let worker: WorkerInstance;

  beforeAll(async () => {
    upstream = await startUpstream({ name: "solo" });
    worker = await startWorker({ BACKENDS: upstream.url, WEBSOCKET_IDLE_TIMEOUT_MS: "500" });
  });
  afterAll(async () => {
    await worker?.dispose();
    await upstream.close();
  });

  it("closes an idle WebSocket with 1001 on both sides", async () => {
    const client = await connect(worker, "/ws/idle");
    const closesBefore = upstream.streams.closes.length;
    const started = Date.now();
    const closed = await client.closed;
    expect(closed.code).toBe(1001);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await until(() => upstream.streams.closes.length > closesBefore, 5_000, "the backend sees the idle close");
    expect(upstream.streams.closes.at(-1)!.code).toBe(1001);
  });

  it("keeps a WebSocket open while messages flow", async () => {
    const client = await connect(worker, "/ws/busy");
    // 8 round trips 200 ms apart: 1.6 s in all, three times the cap, never 500 ms idle.
    for (let i = 1; i <= 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      client.ws.send(`tick ${i}`);
      await client.received(i);
    }
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });
});
