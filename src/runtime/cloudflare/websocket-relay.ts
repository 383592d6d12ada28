import type { Accepted, TunnelOptions } from "../../proxy/websocket-connector.ts";
import { forwardableCode, MessageRelay, type RelayPeer, type RelaySide } from "../../proxy/websocket-relay.ts";

/**
 * Joins the backend's WebSocket to a new WebSocketPair whose client end goes back in the 101.
 *
 * Cloudflare's documented pass-through returns the backend's 101 with its `webSocket` as it
 * is; the Worker then never learns when the socket closes, so it could not count it as a
 * request in flight (least connections), enforce the idle cap or release the count. Relaying
 * each message costs a little CPU and keeps all three.
 */
export function relayWebSocket(upstream: WebSocket, protocol: string | null, options: TunnelOptions): Accepted {
  upstream.accept();
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  const relay = new MessageRelay(peerOf(server), peerOf(upstream), options);
  listen(relay, "client", server);
  listen(relay, "upstream", upstream);
  // The pair answers the client's handshake: the subprotocol is whatever the backend picked.
  const headers = new Headers(options.headers as [string, string][] | undefined);
  if (protocol) headers.set("sec-websocket-protocol", protocol);
  return { response: new Response(null, { status: 101, webSocket: client, headers }), tunnel: relay };
}

/**
 * A workerd WebSocket as a relay peer. workerd exposes no bufferedAmount and cannot stop
 * reading a socket, so the relay can neither see nor apply backpressure here: a slow reader's
 * messages queue inside workerd (the isolate's memory limit is the bound), and a stuck close
 * cannot be cut short (no terminate), only given up on after the relay's grace period.
 */
function peerOf(socket: WebSocket): RelayPeer {
  return {
    send: (data) => socket.send(data),
    close: (code, reason) => (code === undefined ? socket.close() : socket.close(code, reason)),
    bufferedAmount: () => 0,
  };
}

function listen(relay: MessageRelay, side: RelaySide, socket: WebSocket): void {
  // Binary stays an ArrayBuffer, whatever default the compatibility date gives (Blob is standard).
  socket.binaryType = "arraybuffer";
  socket.addEventListener("message", (event) => relay.message(side, event.data as string | ArrayBuffer));
  socket.addEventListener("close", (event) => {
    answerClose(socket, event.code, event.reason);
    relay.closed(side, event.code, event.reason);
  });
  // A connection lost without a close frame.
  socket.addEventListener("error", () => relay.closed(side, 1006, ""));
}

/**
 * Completes the closing handshake with the side that started it. workerd answers a close frame
 * by itself only from compatibility date 2026-04-07 (web_socket_auto_reply_to_close); before
 * that the peer would wait for an answer until its own timeout. Where workerd has answered
 * already, the socket is CLOSED and close() would be a no-op anyway.
 */
function answerClose(socket: WebSocket, code: number, reason: string): void {
  if (code === 1006 || socket.readyState === WebSocket.CLOSED) return;
  try {
    const echoed = forwardableCode(code, 1000);
    if (echoed === undefined) socket.close();
    else socket.close(echoed, reason);
  } catch {
    // Already closing from this side: its close frame is the answer.
  }
}
