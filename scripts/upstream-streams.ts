// The upstream's long-lived answers: WebSockets (echo, a refusing path, closes on command) and
// streamed responses (server-sent events, a long trickle), each observable from a test.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

export interface StreamStats {
  /** WebSockets open now. */
  webSockets: number;
  /** WebSockets accepted so far. */
  webSocketsOpened: number;
  /** Closes received from clients (or 1006 for a connection lost), with when they arrived. */
  readonly closes: { readonly code: number; readonly reason: string; readonly at: number }[];
  /** Streamed responses (/sse, /stream) whose client went away before the end, and when. */
  readonly aborted: number[];
  /** Streamed responses that ran to their end. */
  completed: number;
  /** Upgrade requests' headers as received (raw pairs), newest last. */
  readonly upgradeHeaders: (readonly string[])[];
}

export function newStreamStats(): StreamStats {
  return { webSockets: 0, webSocketsOpened: 0, closes: [], aborted: [], completed: 0, upgradeHeaders: [] };
}

/**
 * WebSockets on `server`: /ws/deny answers the handshake 403; anything else is accepted, picks
 * the last subprotocol the client offered, and echoes every message with its type. A text
 * message "close:<code>:<reason>" makes the upstream close with that code and reason instead.
 */
export function serveWebSockets(server: Server, name: string, stats: StreamStats, sockets: Set<WebSocket>): void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (offered) => [...offered].at(-1) ?? false,
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    stats.upgradeHeaders.push(req.rawHeaders);
    if (req.url?.startsWith("/ws/deny")) {
      socket.end(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 18\r\n" +
          `x-upstream: ${name}\r\nconnection: close\r\n\r\n{"denied":"nope!"}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      stats.webSockets++;
      stats.webSocketsOpened++;
      sockets.add(ws);
      ws.on("message", (data, isBinary) => {
        const text = isBinary ? undefined : data.toString();
        const command = text?.match(/^close:(\d+):(.*)$/s);
        if (command) ws.close(Number(command[1]), command[2]);
        else ws.send(data, { binary: isBinary });
      });
      ws.on("close", (code, reason) => {
        stats.webSockets--;
        sockets.delete(ws);
        stats.closes.push({ code, reason: reason.toString(), at: Date.now() });
      });
      ws.on("error", () => undefined);
    });
  });
}

/**
 * /sse?count=N&interval=MS: N events, one every MS, each carrying the time it was sent.
 * /stream?ms=MS: a text body trickled every 250 ms for MS. Answers false for any other path.
 */
export function serveStream(req: IncomingMessage, res: ServerResponse, name: string, stats: StreamStats): boolean {
  const url = new URL(req.url ?? "/", "http://upstream");
  const sse = url.pathname === "/sse";
  if (!sse && url.pathname !== "/stream") return false;
  const interval = sse ? Number(url.searchParams.get("interval") ?? 300) : 250;
  const count = sse
    ? Number(url.searchParams.get("count") ?? 10)
    : Math.ceil(Number(url.searchParams.get("ms") ?? 1_000) / interval);
  res.writeHead(200, {
    "content-type": sse ? "text/event-stream" : "text/plain; charset=utf-8",
    "cache-control": "no-cache",
    "x-upstream": name,
  });
  res.flushHeaders();
  let sent = 0;
  const timer = setInterval(() => {
    sent++;
    res.write(sse ? `id: ${sent}\ndata: ${Date.now()}\n\n` : `${sent}\n`);
    if (sent >= count) {
      clearInterval(timer);
      stats.completed++;
      res.end();
    }
  }, interval);
  res.on("close", () => {
    if (sent < count) stats.aborted.push(Date.now());
    clearInterval(timer);
  });
  return true;
}
