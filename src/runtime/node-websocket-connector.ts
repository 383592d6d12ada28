import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { classifyFailure } from "../proxy/forward.ts";
import { dropHopByHop } from "../proxy/hop-by-hop.ts";
import type {
  Accepted,
  Handshake,
  TunnelOptions,
  UpstreamUpgrade,
  WebSocketConnector,
} from "../proxy/websocket-connector.ts";
import { ByteTunnel } from "./node-tunnel.ts";

/**
 * Node's side of a WebSocket upgrade, one per client connection: the backend's handshake over
 * node:http with the client's own Sec-WebSocket-* headers, and on 101 a byte tunnel between the
 * two sockets (node-tunnel.ts). The client's socket is node:http's, handed over on 'upgrade'.
 */
export class NodeWebSocketConnector implements WebSocketConnector {
  #accepted = false;

  /** `clientHead`: bytes the client sent after its handshake that node:http had already read. */
  constructor(
    private readonly client: Socket,
    private readonly clientHead: Uint8Array,
  ) {}

  /** The client's socket belongs to a tunnel now: nothing else may be written to it. */
  get accepted(): boolean {
    return this.#accepted;
  }

  connect(upgrade: UpstreamUpgrade): Promise<Handshake> {
    return new Promise((resolve) => {
      const url = new URL(upgrade.url);
      const headers: Record<string, string> = {};
      // A Host given here (preserve_host) is sent as it is; without one node:http sends the URL's.
      upgrade.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const send = url.protocol === "https:" ? httpsRequest : httpRequest;
      const started = performance.now();
      let settled = false;
      let outgoing: ClientRequest | undefined;
      const settle = (handshake: Handshake): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        resolve(handshake);
        return true;
      };
      const timer = setTimeout(() => {
        settle({ kind: "timeout", reason: `no handshake answer within ${upgrade.timeoutMs} ms` });
        outgoing?.destroy();
      }, upgrade.timeoutMs);
      // A socket of its own: an upgraded connection never goes back to a pool.
      try {
        outgoing = send(url, { method: "GET", headers, agent: false });
      } catch (error) {
        // node:http refuses some headers before connecting; nothing reached the backend.
        settle(classifyFailure(error));
        return;
      }
      outgoing.on("upgrade", (answer: IncomingMessage, socket: Socket, head: Buffer) => {
        const latencyMs = performance.now() - started;
        const accept = (options: TunnelOptions) => this.#accept(answer, socket, head, options);
        if (!settle({ kind: "upgraded", latencyMs, accept })) socket.destroy();
      });
      outgoing.on("response", (answer: IncomingMessage) => {
        const latencyMs = performance.now() - started;
        const response = toResponse(answer);
        if (!response) {
          answer.destroy();
          settle({ kind: "failed", reason: `unusable answer (status ${answer.statusCode})` });
        } else if (!settle({ kind: "response", response, latencyMs })) answer.destroy();
      });
      outgoing.on("error", (error) => settle(classifyFailure(error)));
      outgoing.end();
    });
  }

  /** Sends the client the backend's 101 as it came (subprotocol and extensions unchanged) and joins the sockets. */
  #accept(answer: IncomingMessage, upstream: Socket, upstreamHead: Buffer, options: TunnelOptions): Accepted {
    this.#accepted = true;
    const lines = [`HTTP/1.1 101 ${answer.statusMessage || "Switching Protocols"}`];
    for (let i = 0; i < answer.rawHeaders.length; i += 2)
      lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
    for (const [name, value] of options.headers ?? []) lines.push(`${name}: ${value}`);
    if (!this.client.destroyed) this.client.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
    const tunnel = new ByteTunnel(this.client, upstream, options);
    tunnel.start(this.clientHead, upstreamHead);
    // Never sent: the upgrade listener sees `accepted` and leaves the socket to the tunnel.
    return { response: new Response(null, { status: 200 }), tunnel };
  }
}

/**
 * The backend's non-101 answer as a web Response: headers kept repeated (Set-Cookie), the body
 * streamed as it came (still encoded: it is not fetch's, nothing decoded it); undefined if unusable.
 */
function toResponse(answer: IncomingMessage): Response | undefined {
  const status = answer.statusCode ?? 0;
  if (status < 200 || status > 599) return undefined;
  const headers = new Headers();
  try {
    for (let i = 0; i < answer.rawHeaders.length; i += 2)
      headers.append(answer.rawHeaders[i]!, answer.rawHeaders[i + 1]!);
  } catch {
    // A header node:http let through and the Fetch standard refuses.
    return undefined;
  }
  dropHopByHop(headers, false);
  const noBody = status === 204 || status === 304;
  if (noBody) answer.resume();
  return new Response(noBody ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>), {
    status,
    statusText: answer.statusMessage ?? "",
    headers,
  });
}
