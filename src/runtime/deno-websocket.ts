// The client's side of a WebSocket on Deno: Deno.upgradeWebSocket, joined by a message relay to
// the backend's side (ws-upstream.ts).
import type { WebSocketConnector } from "../proxy/websocket-connector.ts";
import { openingRelay } from "./opening-peer.ts";
import { relayConnector } from "./ws-upstream.ts";

/** Deno.upgradeWebSocket without options: the socket (open once the 101 has gone out) and the 101. */
export type UpgradeWebSocket = (request: Request) => { socket: WebSocket; response: Response };

/** The connector for one upgrade request; `request` must be the Request Deno.serve handed over. */
export function denoConnector(request: Request, upgradeWebSocket: UpgradeWebSocket): WebSocketConnector {
  return relayConnector((upstream, options) => {
    const { client, relay, refuse } = openingRelay(upstream, options);
    let upgraded: ReturnType<UpgradeWebSocket>;
    try {
      upgraded = upgradeWebSocket(request);
    } catch {
      return refuse();
    }
    const { socket, response } = upgraded;
    // Not through upgradeWebSocket's `protocol` option: Deno looks for it in the offered list split
    // at ", " only (2.9.6), so an offer written "a,b" (the ws package's) would refuse the upgrade.
    // The backend picked from what the client offered; the ws client checked that.
    if (upstream.protocol) response.headers.set("sec-websocket-protocol", upstream.protocol);
    for (const [name, value] of upstream.headers) response.headers.append(name, value);
    for (const [name, value] of options.headers ?? []) response.headers.append(name, value);
    socket.binaryType = "arraybuffer";
    let opened = false;
    socket.onopen = () => {
      opened = true;
      client.open({
        send: (data) => socket.send(data),
        close: (code, reason) => socket.close(code, reason),
        bufferedAmount: () => socket.bufferedAmount,
      });
      upstream.release();
    };
    socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => relay.message("client", event.data);
    socket.onclose = (event) => relay.closed("client", event.code, event.reason);
    // An upgrade that fails before open reports only an error, no close.
    socket.onerror = () => {
      if (!opened) relay.closed("client", 1006, "");
    };
    return { response, tunnel: relay };
  });
}
