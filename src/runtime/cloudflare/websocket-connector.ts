import { classifyFailure, clientResponse } from "../../proxy/forward.ts";
import type { Handshake, UpstreamUpgrade, WebSocketConnector } from "../../proxy/websocket-connector.ts";
import { relayWebSocket } from "./websocket-relay.ts";

/**
 * Headers workerd writes itself on an upgrading fetch: it generates its own key and version
 * (a client's are replaced), and it reads Sec-WebSocket-Extensions as an offer to negotiate
 * compression on its own hop. Each hop of a relay negotiates its extensions separately (the
 * client's hop with the WebSocketPair), so the client's offer is not the backend's business.
 */
const MANAGED_BY_WORKERD = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"];

/**
 * Opens the backend's side of a WebSocket from a Worker: an upgrading fetch, whose 101 carries
 * the backend's WebSocket (`response.webSocket`). Any other answer goes to the client as it is.
 */
export class WorkerWebSocketConnector implements WebSocketConnector {
  constructor(private readonly upstreamFetch: typeof fetch = (input, init) => fetch(input, init)) {}

  async connect(upgrade: UpstreamUpgrade): Promise<Handshake> {
    const headers = new Headers(upgrade.headers);
    for (const name of MANAGED_BY_WORKERD) headers.delete(name);
    if (upgrade.protocols.length > 0) headers.set("sec-websocket-protocol", upgrade.protocols.join(", "));
    else headers.delete("sec-websocket-protocol");

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error("upstream timeout"));
    }, upgrade.timeoutMs);
    const started = performance.now();
    let response: Response;
    try {
      response = await this.upstreamFetch(upgrade.url, { headers, signal: controller.signal, redirect: "manual" });
    } catch (error) {
      if (timedOut) return { kind: "timeout", reason: `no handshake answer within ${upgrade.timeoutMs} ms` };
      // A closed port surfaces as "Network connection lost" on workerd: "failed", which
      // handle-upgrade may retry elsewhere (an upgrade has no body to duplicate).
      return classifyFailure(error);
    } finally {
      clearTimeout(timer);
    }
    const latencyMs = performance.now() - started;
    const socket = response.webSocket;
    if (response.status !== 101) return { kind: "response", response: clientResponse(response), latencyMs };
    if (!socket) return { kind: "failed", reason: "101 answer without a WebSocket" };
    const protocol = response.headers.get("sec-websocket-protocol");
    return { kind: "upgraded", latencyMs, accept: (options) => relayWebSocket(socket, protocol, options) };
  }
}
