// The client's side of a WebSocket on Bun: server.upgrade with this socket's events as its data,
// joined by a message relay to the backend's side (ws-upstream.ts).
import type { WebSocketConnector } from "../proxy/websocket-connector.ts";
import { MAX_QUEUED_BYTES } from "../proxy/websocket-relay.ts";
import { openingRelay } from "./opening-peer.ts";
import { MAX_MESSAGE_BYTES, relayConnector } from "./ws-upstream.ts";

/** Where one socket's events go: server.upgrade's `data`, read back by the handlers below. */
export interface BunSocketEvents {
  open(ws: BunServerWebSocket): void;
  message(message: string | Uint8Array): void;
  close(code: number, reason: string): void;
}

/** The little of Bun's ServerWebSocket used here (no @types/bun in this project). */
export interface BunServerWebSocket {
  readonly data: BunSocketEvents;
  /** Bytes sent, -1 when queued behind backpressure, 0 when dropped. */
  send(data: string | ArrayBuffer | ArrayBufferView): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount(): number;
}

export interface BunUpgrader {
  /** Answers the request 101 (with `headers`) and opens the socket; false when the handshake is not valid. */
  upgrade(request: Request, options: { headers?: Headers; data: BunSocketEvents }): boolean;
}

/** Bun.serve's `websocket` option. */
export const bunWebSocketHandlers = {
  maxPayloadLength: MAX_MESSAGE_BYTES,
  // Past backpressureLimit Bun drops a message, saying so only in send's result: closing is
  // better. The relay pauses the backend at its high-water mark long before this; only a few
  // very large messages in a row could reach it.
  backpressureLimit: MAX_QUEUED_BYTES + MAX_MESSAGE_BYTES,
  closeOnBackpressureLimit: true,
  // A socket that receives nothing for 120 s is closed, and Bun's pings make a live client
  // answer, so only a dead one is cut. The idle cap on traffic is the relay's
  // (WEBSOCKET_IDLE_TIMEOUT_MS); Bun.serve's own idleTimeout does not apply once upgraded.
  idleTimeout: 120,
  sendPings: true,
  perMessageDeflate: false,
  open: (ws: BunServerWebSocket) => ws.data.open(ws),
  message: (ws: BunServerWebSocket, message: string | Uint8Array) => ws.data.message(message),
  close: (ws: BunServerWebSocket, code: number, reason: string) => ws.data.close(code, reason),
};

/** The connector for one upgrade request; `request` must be the Request Bun handed to fetch. */
export function bunConnector(server: BunUpgrader, request: Request): WebSocketConnector {
  return relayConnector((upstream, options) => {
    const { client, relay, refuse } = openingRelay(upstream, options);
    const headers = new Headers(upstream.headers);
    if (upstream.protocol) headers.set("sec-websocket-protocol", upstream.protocol);
    for (const [name, value] of options.headers ?? []) headers.append(name, value);
    const events: BunSocketEvents = {
      // Called inside server.upgrade, before the 101 is written: what is sent now follows it.
      open: (ws) => {
        client.open({
          send: (data) => void ws.send(data),
          close: (code, reason) => ws.close(code, reason),
          terminate: () => ws.terminate(),
          bufferedAmount: () => ws.getBufferedAmount(),
        });
        upstream.release();
      },
      message: (message) => relay.message("client", message),
      close: (code, reason) => relay.closed("client", code, reason),
    };
    if (!server.upgrade(request, { headers, data: events })) return refuse();
    // Bun has answered already; what fetch returns after an upgrade is ignored (hono/bun returns the same).
    return { response: new Response(null), tunnel: relay };
  });
}
