import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Context } from "hono";
import { errorResponse } from "../shared/error-response.ts";
import { NodeWebSocketConnector } from "./node-websocket-connector.ts";

/**
 * What an upgrade request carries in c.env: `incoming` as @hono/node-server passes it (so its
 * getConnInfo finds the socket peer) and this connection's WebSocket connector.
 */
export interface UpgradeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: undefined;
  readonly webSocket: NodeWebSocketConnector;
}

/** BalancerOptions.webSockets for Node: the connector of an upgrade request, none for any other. */
export const nodeWebSocketsOf = (c: Context): NodeWebSocketConnector | undefined =>
  (c.env as Partial<UpgradeBindings> | undefined)?.webSocket;

type FetchHandler = (request: Request, env: UpgradeBindings) => Response | Promise<Response>;

/** How long a client gets to close its side after an answer we closed ours on. */
const ANSWER_LINGER_MS = 5_000;

/**
 * Takes node:http's upgrade requests. A WebSocket upgrade goes through `fetch` (the balancer),
 * whose connector tunnels the socket on a 101; any other answer (the backend's 403, a 404 under
 * /_lb, an error) is written to the socket as a plain HTTP/1.1 response. Any other upgrade (h2c
 * and the like, or a non-GET) is served as the ordinary request it is to a proxy that does not
 * take it up: node:http hands every upgrade here once a listener exists.
 */
export function serveUpgrades(server: Server, fetch: FetchHandler): void {
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // Pipelined behind requests still being answered: nothing of ours may go out before them.
    void answered(socket).then((open) => {
      if (!open) return;
      if (isWebSocketRequest(req)) void upgrade(req, socket, head, fetch);
      else reparseAsRequest(server, req, socket, head);
    });
  });
}

/**
 * Resolves once no response of the connection's earlier requests is in flight (true), or when
 * the connection closed first (false). node:http answers pipelined requests one after another
 * through `_httpMessage`, the response currently writing (as its closeIdleConnections reads it).
 */
async function answered(socket: Socket): Promise<boolean> {
  for (let turns = 0; turns < 10_000; turns++) {
    if (socket.destroyed) return false;
    const current = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (!current) return true;
    await new Promise<void>((resolve) => {
      const done = () => {
        current.off("finish", done).off("close", done);
        socket.off("close", done);
        // node:http hands the socket to the next queued response in its own 'finish' listener.
        setImmediate(resolve);
      };
      current.once("finish", done).once("close", done);
      socket.once("close", done);
    });
  }
  socket.destroy();
  return false;
}

async function upgrade(req: IncomingMessage, socket: Socket, head: Buffer, fetch: FetchHandler): Promise<void> {
  // node:http took its own listeners off: an error with none would throw.
  socket.on("error", () => undefined);
  const request = upgradeRequest(req);
  if (!request) {
    await writeResponse(socket, errorResponse(400, "bad_request", "invalid request target"));
    return;
  }
  const connector = new NodeWebSocketConnector(socket, head);
  let response: Response;
  try {
    response = await fetch(request, { incoming: req, outgoing: undefined, webSocket: connector });
  } catch (error) {
    console.error("edge-lb: unexpected error", error);
    response = errorResponse(500, "internal_error", "the balancer failed to handle the request");
  }
  if (connector.accepted) return;
  await writeResponse(socket, response);
}

function isWebSocketRequest(req: IncomingMessage): boolean {
  return req.method === "GET" && req.headers.upgrade?.toLowerCase() === "websocket";
}

/**
 * The web Request @hono/node-server would build: `http://<Host><target>` (or an absolute-form
 * target as it is), headers as received. undefined when no URL can be made of them.
 */
function upgradeRequest(req: IncomingMessage): Request | undefined {
  const target = req.url ?? "/";
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  let url: URL;
  try {
    if (/^https?:\/\//i.test(target)) url = new URL(target);
    else {
      if (!target.startsWith("/")) return undefined;
      const host = req.headers.host || "localhost";
      url = new URL(`${secure ? "https" : "http"}://${host}${target}`);
      // A Host the URL parser read differently ("a/b", "x@y") would name some other authority
      // (@hono/node-server's own check).
      const bare = (host.includes(":") ? host.replace(/:\d+$/, "") : host).toLowerCase();
      if (url.hostname.length !== host.length && url.hostname !== bare) return undefined;
    }
    // A backslash in the path is a separator to the URL parser and not to the backend.
    const query = target.indexOf("?");
    if (target.slice(0, query < 0 ? undefined : query).includes("\\")) return undefined;
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    return new Request(url, { method: "GET", headers });
  } catch {
    return undefined;
  }
}

/** `response` on a socket node:http no longer serves: status line, headers, body, then close. */
async function writeResponse(socket: Socket, response: Response): Promise<void> {
  const body = response.body;
  if (socket.destroyed || !socket.writable) {
    await body?.cancel().catch(() => undefined);
    socket.destroy();
    return;
  }
  const status = response.status;
  const lines = [`HTTP/1.1 ${status} ${response.statusText || STATUS_CODES[status] || ""}`];
  response.headers.forEach((value, name) => {
    if (!UNFRAMED.has(name) && name !== "set-cookie") lines.push(`${name}: ${value}`);
  });
  for (const cookie of response.headers.getSetCookie()) lines.push(`set-cookie: ${cookie}`);
  // Without a Content-Length the body runs to the connection's end, which closing delimits.
  lines.push("connection: close");
  socket.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
  if (body) {
    const reader = body.getReader();
    const gone = () => void reader.cancel().catch(() => undefined);
    socket.once("close", gone);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || socket.destroyed) break;
        if (!socket.write(value)) await drained(socket);
      }
    } catch {
      // The body broke off (its backend went away): the client sees a short, closed response.
    } finally {
      socket.off("close", gone);
    }
  }
  socket.end();
  setTimeout(() => socket.destroy(), ANSWER_LINGER_MS).unref();
}

/** Headers that describe the framing of a connection this answer does not use. */
const UNFRAMED = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade"]);

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done).off("close", done);
      resolve();
    };
    socket.on("drain", done).on("close", done);
  });
}

/**
 * Gives node:http back a request it treated as an upgrade, without its Upgrade header (hop by
 * hop, and not taken up here), so it is parsed again and served like any other request: body,
 * keep-alive and the slow-client limits as usual. Header values are latin1 strings of the bytes
 * received, so they go back byte for byte.
 */
function reparseAsRequest(server: Server, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== "upgrade") lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), head]));
  server.emit("connection", socket);
}
