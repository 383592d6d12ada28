// A small upstream HTTP server: the demo's hello-world backends, and the tests' controllable
// upstream (it can be told to answer, fail, hang or close its port).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { WebSocket } from "ws";
import { newStreamStats, type StreamStats, serveStream, serveWebSockets } from "./upstream-streams.ts";

export type UpstreamMode =
  | { kind: "ok" }
  | { kind: "status"; status: number; afterBody?: boolean }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  /** Answers these statuses in turn, one per request. */
  | { kind: "cycle"; statuses: readonly number[] };

export interface ReceivedRequest {
  readonly method: string;
  /** The request target exactly as it arrived on the wire. */
  readonly target: string;
  /** Raw header pairs in arrival order (repeats kept). */
  readonly rawHeaders: readonly string[];
  readonly bodyLength: number;
  readonly bodySha256: string;
}

export interface Upstream {
  readonly name: string;
  readonly url: string;
  port: number;
  /** Requests answered (or failed) so far, in order. */
  readonly received: ReceivedRequest[];
  /** Requests whose headers arrived, whether or not their body ever did. */
  started: number;
  mode: UpstreamMode;
  /** How requests to /healthz are answered (active health checks), independently of `mode`. */
  healthMode: UpstreamMode;
  /** WebSockets and streamed responses (/ws, /sse, /stream): upstream-streams.ts. */
  readonly streams: StreamStats;
  /** Stops listening and drops open connections: the port is closed. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  reopen(): Promise<void>;
}

export async function startUpstream(options: { name: string; port?: number; host?: string }): Promise<Upstream> {
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const webSockets = new Set<WebSocket>();
  let cycled = 0;
  let server: Server;

  const upstream: Upstream = {
    name: options.name,
    url: "",
    port: options.port ?? 0,
    received: [],
    started: 0,
    mode: { kind: "ok" },
    healthMode: { kind: "ok" },
    streams: newStreamStats(),
    close: () => closeServer(),
    reopen: () => listen(upstream.port),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    upstream.started++;
    const hash = createHash("sha256");
    let length = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      hash.update(chunk);
      length += chunk.length;
    }
    const record: ReceivedRequest = {
      method: req.method ?? "",
      target: req.url ?? "",
      rawHeaders: req.rawHeaders,
      bodyLength: length,
      bodySha256: hash.digest("hex"),
    };
    upstream.received.push(record);
    const mode = record.target.startsWith("/healthz") ? upstream.healthMode : upstream.mode;
    if (mode.kind === "hang") {
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return;
    }
    if (mode.kind === "delay") await new Promise((resolve) => setTimeout(resolve, mode.ms));
    res.setHeader("x-upstream", upstream.name);
    const status =
      mode.kind === "status"
        ? mode.status
        : mode.kind === "cycle"
          ? mode.statuses[cycled++ % mode.statuses.length]!
          : 200;
    if (status !== 200 || record.target.startsWith("/healthz")) {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ upstream: upstream.name, status }));
      return;
    }
    if (serveStream(req, res, upstream.name, upstream.streams)) return;
    if (record.target.startsWith("/echo")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ upstream: upstream.name, ...record }));
      return;
    }
    if (record.target.startsWith("/cookies")) {
      res.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/"]);
    }
    if (record.target.startsWith("/redirect")) {
      res.writeHead(302, { location: "http://127.0.0.1:1/elsewhere" });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(`Hello from ${upstream.name}\n`);
  };

  function listen(port: number): Promise<void> {
    server = createServer((req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
    server.keepAliveTimeout = 60_000;
    serveWebSockets(server, upstream.name, upstream.streams, webSockets);
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        const address = server.address() as AddressInfo;
        upstream.port = address.port;
        (upstream as { url: string }).url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
        resolve();
      });
    });
  }

  function closeServer(): Promise<void> {
    return new Promise((resolve) => {
      server.close(() => resolve());
      for (const res of hanging) res.destroy();
      for (const ws of webSockets) ws.terminate();
      for (const socket of sockets) socket.destroy();
    });
  }

  await listen(upstream.port);
  return upstream;
}
