// The backend's side of Bun's and Deno's relay (src/runtime/ws-upstream.ts), on Node with the
// ws package it uses on Deno: handshake outcomes, the headers of its own handshake, and that
// nothing the backend sends between its 101 and the client's side opening is lost.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import type { Handshake, TunnelOptions } from "../../src/proxy/websocket-connector.ts";
import { MessageRelay, type RelayData, type RelayPeer } from "../../src/proxy/websocket-relay.ts";
import { type OpenUpstream, relayConnector } from "../../src/runtime/ws-upstream.ts";

interface Backend {
  readonly url: string;
  readonly server: Server;
  readonly handshakes: IncomingMessage[];
  readonly sockets: Set<Socket>;
  /** Resolves once the backend has written its greeting on the newest WebSocket. */
  greeted: Promise<void>;
}

/** Accepts /ws and greets with three messages at once; /deny answers 401 with two cookies; /hang never answers. */
async function startBackend(): Promise<Backend> {
  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  let greet: () => void = () => undefined;
  const backend: Backend = {
    url: "",
    server,
    handshakes: [],
    sockets,
    greeted: Promise.resolve(),
  };
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    backend.handshakes.push(req);
    if (req.url === "/hang") return;
    if (req.url === "/deny") {
      socket.end(
        "HTTP/1.1 401 Unauthorized\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ncontent-type: text/plain\r\n" +
          "content-length: 6\r\nconnection: close\r\n\r\nnope!\n",
      );
      return;
    }
    backend.greeted = new Promise((resolve) => (greet = resolve));
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.send("one");
      ws.send(Buffer.from([2]), { binary: true });
      ws.send("three", () => greet());
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (backend as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return backend;
}

/** A client side that records what the relay gives it and answers a close at once. */
function recordingClient(onClose: (code: number) => void): RelayPeer & { readonly got: RelayData[] } {
  const got: RelayData[] = [];
  return {
    got,
    send: (data) => void got.push(data),
    close: (code) => queueMicrotask(() => onClose(code ?? 1005)),
    bufferedAmount: () => 0,
  };
}

function connect(url: string, headers = new Headers(), timeoutMs = 2_000) {
  let upstream: OpenUpstream | undefined;
  let relay: MessageRelay | undefined;
  const client = recordingClient((code) => relay?.closed("client", code, ""));
  let closed!: () => void;
  const ended = new Promise<void>((resolve) => (closed = resolve));
  const connector = relayConnector((open, options: TunnelOptions) => {
    upstream = open;
    relay = new MessageRelay(client, open.peer, options);
    open.bind(relay);
    return { response: new Response(null), tunnel: relay };
  });
  const handshake = connector.connect({ url, headers, protocols: ["x", "y"], timeoutMs });
  return {
    handshake,
    client,
    ended,
    accept(h: Handshake) {
      if (h.kind !== "upgraded") throw new Error(`not upgraded: ${h.kind}`);
      h.accept({ idleTimeoutMs: 0, onClosed: closed });
      return { upstream: upstream!, relay: relay! };
    },
  };
}

/** Polls `probe` every 10 ms until it holds, at most 5 s. */
async function until(probe: () => boolean): Promise<void> {
  const end = Date.now() + 5_000;
  while (!probe()) {
    if (Date.now() > end) throw new Error("not within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the ws client side of a relayed WebSocket", () => {
  let backend: Backend;

  beforeAll(async () => {
    backend = await startBackend();
  });

  afterAll(async () => {
    // Upgraded sockets are the server's no longer: close() would wait for them.
    for (const socket of backend.sockets) socket.destroy();
    await new Promise((resolve) => backend.server.close(resolve));
  });

  it("keeps what the backend sent before the client's side opened, in order and typed", async () => {
    const attempt = connect(`${backend.url}/ws`);
    const handshake = await attempt.handshake;
    // The backend has written all three before the relay even exists.
    await backend.greeted;
    const { upstream, relay } = attempt.accept(handshake);
    // Read before the pause or still in the socket: either way none is lost.
    upstream.release();
    relay.message("client", "echo me");
    await until(() => attempt.client.got.length === 4);
    expect(attempt.client.got).toEqual(["one", Buffer.from([2]), "three", "echo me"]);
    relay.close(1000, "done");
    await attempt.ended;
  });

  it("sends its own handshake headers, not the client's, and Host only when one is given", async () => {
    const headers = new Headers({
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      "sec-websocket-extensions": "permessage-deflate",
      "sec-websocket-protocol": "p, q",
      "x-forwarded-for": "192.0.2.1",
    });
    const attempt = connect(`${backend.url}/ws`, headers);
    const { relay } = attempt.accept(await attempt.handshake);
    const received = backend.handshakes.at(-1)!.headers;
    expect(received["sec-websocket-key"]).not.toBe("dGhlIHNhbXBsZSBub25jZQ==");
    expect(received["sec-websocket-extensions"]).toBeUndefined();
    expect(received["sec-websocket-protocol"]).toBe("x,y");
    expect(received["x-forwarded-for"]).toBe("192.0.2.1");
    expect(received.host).toBe(new URL(backend.url).host);
    relay.close(1000, "");
    await attempt.ended;

    const preserved = connect(`${backend.url}/ws`, new Headers({ host: "site.example" }));
    const second = preserved.accept(await preserved.handshake);
    expect(backend.handshakes.at(-1)!.headers.host).toBe("site.example");
    second.relay.close(1000, "");
    await preserved.ended;
  });

  it("passes a refused handshake on as a Response, repeated headers kept and the body streamed", async () => {
    const handshake = await connect(`${backend.url}/deny`).handshake;
    expect(handshake.kind).toBe("response");
    if (handshake.kind !== "response") return;
    expect(handshake.response.status).toBe(401);
    expect(handshake.response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(handshake.response.headers.has("connection")).toBe(false);
    expect(await handshake.response.text()).toBe("nope!\n");
  });

  it("calls a closed port unreachable and a silent backend a timeout", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await connect(`http://127.0.0.1:${port}/ws`).handshake;
    expect(refused.kind).toBe("unreachable");

    const started = Date.now();
    const silent = await connect(`${backend.url}/hang`, new Headers(), 300).handshake;
    expect(silent).toMatchObject({ kind: "timeout", reason: "no handshake answer within 300 ms" });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
