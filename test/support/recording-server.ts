// A node:http server on 127.0.0.1 that records, the moment they arrive, every TCP connection and
// every request it sees: the raw request target (req.url as node:http parsed it, never
// normalised) and the Host header(s). Hostile-request suites use it twice: as the balancer's
// upstreams (which answer 200), and as "canaries" that are not backends and must never be
// contacted at all.
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface SeenRequest {
  readonly method: string;
  /** req.url: the request target exactly as it arrived on the wire. */
  readonly url: string;
  /** Every Host header value, in arrival order (node:http joins none of them). */
  readonly hosts: readonly string[];
  /** Every header pair in arrival order. */
  readonly rawHeaders: readonly string[];
  readonly at: number;
}

/** A request node:http could not parse (it answered 400 itself, as a default server does). */
export interface RejectedRequest {
  /** The parser's error code (HPE_INVALID_METHOD, HPE_INVALID_HEADER_TOKEN, ...). */
  readonly code: string;
  /** The start of the bytes it refused, as latin1 text. */
  readonly head: string;
}

export interface RecordingServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** host:port, as a client would write it in a Host header or an authority. */
  readonly authority: string;
  /** http://host:port */
  readonly origin: string;
  /** TCP connections accepted so far (a canary must show 0 even if no request was completed). */
  readonly connections: () => number;
  /** Requests seen so far, oldest first. */
  readonly requests: SeenRequest[];
  /** Requests that arrived but were not valid HTTP to node:http. */
  readonly rejected: RejectedRequest[];
  close(): Promise<void>;
}

export async function startRecordingServer(name: string): Promise<RecordingServer> {
  const requests: SeenRequest[] = [];
  const rejected: RejectedRequest[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const rawHeaders = req.rawHeaders;
    requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      hosts: hostValues(rawHeaders),
      rawHeaders,
      at: Date.now(),
    });
    // Drain whatever body came, then answer; an aborted body still gets no hang here.
    req.on("error", () => undefined);
    req.resume();
    const answer = () => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-upstream": name });
      res.end(`Hello from ${name}\n`);
    };
    req.once("end", answer);
    req.once("close", answer);
  });
  // Longer than any run: an idle keep-alive connection the server closes just as the balancer
  // reuses it would be a reset that no client request caused.
  server.keepAliveTimeout = 120_000;
  server.on("connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // What node:http does by default (400, then close), keeping what was refused. A connection the
  // client reset (ECONNRESET, no bytes) is not a request.
  server.on("clientError", (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (error.code?.startsWith("HPE_")) {
      rejected.push({ code: error.code, head: error.rawPacket?.toString("latin1").slice(0, 4_096) ?? "" });
    }
    if (socket.writable) {
      const status = error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    host: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    origin: `http://127.0.0.1:${port}`,
    connections: () => connections,
    requests,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function hostValues(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "host") values.push(rawHeaders[i + 1]!);
  }
  return values;
}
