// The backend's side of a relayed WebSocket on Bun and Deno: the `ws` package's client (Bun's
// built-in stand-in for it on Bun, the package itself through node:http on Deno), which reports
// a non-101 answer with its status, headers and body, and whose reading can be paused.
import type { ClientRequest, IncomingMessage } from "node:http";
import WebSocket from "ws";
import { classifyFailure } from "../proxy/forward.ts";
import { dropHopByHop } from "../proxy/hop-by-hop.ts";
import type {
  Accepted,
  Handshake,
  TunnelOptions,
  UpstreamUpgrade,
  WebSocketConnector,
} from "../proxy/websocket-connector.ts";
import type { MessageRelay, RelayData, RelayPeer } from "../proxy/websocket-relay.ts";

/** The largest message relayed either way (ws's default is 100 MiB, Bun's server's 16 MiB). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** What the ws client writes itself for its own handshake with the backend. */
const OWN_HANDSHAKE_HEADERS = [
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
];

/** A backend WebSocket that answered 101, not read until the client's side can take messages. */
export interface OpenUpstream {
  /** The subprotocol the backend picked; "" for none. */
  readonly protocol: string;
  /** The backend's 101 headers that are the client's business (Set-Cookie...): no hop-by-hop, no Sec-WebSocket-*. */
  readonly headers: Headers;
  readonly peer: RelayPeer;
  /** Sends the backend's messages and close to `relay`, those that came before first. */
  bind(relay: MessageRelay): void;
  /** The client's side is open: the backend's messages may flow. */
  release(): void;
}

/** Joins an open backend WebSocket to the client's side of this runtime. */
export type AcceptClient = (upstream: OpenUpstream, options: TunnelOptions) => Accepted;

export function relayConnector(acceptClient: AcceptClient): WebSocketConnector {
  return { connect: (upgrade) => connectUpstream(upgrade, acceptClient) };
}

function connectUpstream(upgrade: UpstreamUpgrade, acceptClient: AcceptClient): Promise<Handshake> {
  const started = performance.now();
  let ws: WebSocket;
  try {
    ws = new WebSocket(wsUrl(upgrade.url), [...upgrade.protocols], {
      headers: handshakeHeaders(upgrade.headers),
      handshakeTimeout: upgrade.timeoutMs,
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
    });
  } catch (error) {
    return Promise.resolve({ kind: "failed", reason: classifyFailure(error).reason });
  }
  return new Promise<Handshake>((resolve) => {
    let settled = false;
    const settle = (handshake: Handshake) => {
      if (settled) return;
      settled = true;
      resolve(handshake);
    };
    let headers = new Headers();
    ws.once("upgrade", (res: IncomingMessage) => {
      headers = passedOnHeaders(res.rawHeaders);
    });
    ws.once("open", () => {
      // Until the client's side is open the backend's messages have nowhere to go: they wait in the socket.
      ws.pause();
      const link = new UpstreamLink(ws, headers);
      const latencyMs = performance.now() - started;
      settle({ kind: "upgraded", latencyMs, accept: (options) => acceptClient(link, options) });
    });
    ws.once("unexpected-response", (req: ClientRequest, res: IncomingMessage) => {
      const latencyMs = performance.now() - started;
      try {
        settle({ kind: "response", response: toResponse(req, res), latencyMs });
      } catch (error) {
        // A status no Response can carry (below 200 or above 599).
        req.destroy();
        settle({ kind: "failed", reason: `unusable handshake answer: ${(error as Error).message}` });
      }
    });
    // Always listened to: an 'error' nobody hears would throw. After open, 'close' follows it.
    ws.on("error", (error: Error) => {
      if (/handshake has timed out/i.test(error.message)) {
        settle({ kind: "timeout", reason: `no handshake answer within ${upgrade.timeoutMs} ms` });
      } else {
        settle(classifyFailure(error));
      }
    });
    ws.once("close", () => settle({ kind: "failed", reason: "connection closed during the handshake" }));
  });
}

type Hold = "client" | "relay";

class UpstreamLink implements OpenUpstream {
  readonly protocol: string;
  readonly peer: RelayPeer;
  #relay: MessageRelay | undefined;
  #held: RelayData[] = [];
  #closedEarly: { code: number; reason: string } | undefined;
  /** Why reading is paused: the client's side is not open yet, or it is not keeping up. */
  readonly #holds = new Set<Hold>(["client"]);

  constructor(
    private readonly ws: WebSocket,
    readonly headers: Headers,
  ) {
    this.protocol = ws.protocol;
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? data : data.toString("utf8");
      if (this.#relay) this.#relay.message("upstream", message);
      else this.#held.push(message);
    });
    ws.once("close", (code: number, reason: Buffer) => {
      const text = reason.toString("utf8");
      if (this.#relay) this.#relay.closed("upstream", code, text);
      else this.#closedEarly = { code, reason: text };
    });
    this.peer = {
      send: (data) => {
        if (typeof data === "string") ws.send(data);
        else ws.send(data, { binary: true });
      },
      close: (code, reason) => {
        // The backend's answering close frame has to be read.
        this.#holds.clear();
        this.#apply();
        if (code === undefined) ws.close();
        else ws.close(code, reason);
      },
      terminate: () => ws.terminate(),
      bufferedAmount: () => ws.bufferedAmount,
      pause: () => this.#hold("relay", true),
      resume: () => this.#hold("relay", false),
    };
  }

  bind(relay: MessageRelay): void {
    this.#relay = relay;
    for (const message of this.#held.splice(0)) relay.message("upstream", message);
    if (this.#closedEarly) relay.closed("upstream", this.#closedEarly.code, this.#closedEarly.reason);
  }

  release(): void {
    this.#hold("client", false);
  }

  #hold(reason: Hold, on: boolean): void {
    if (on) this.#holds.add(reason);
    else this.#holds.delete(reason);
    this.#apply();
  }

  #apply(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.#holds.size > 0) this.ws.pause();
    else this.ws.resume();
  }
}

function wsUrl(url: string): string {
  return url.replace(/^http/i, "ws");
}

/**
 * The forwarding headers minus the handshake's own, which the ws client writes for this hop.
 * Host stays only when preserve_host put it there (forwardingHeaders drops it otherwise).
 */
function handshakeHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!OWN_HANDSHAKE_HEADERS.includes(name)) out[name] = value;
  });
  return out;
}

function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      // A header the Headers class refuses (an invalid value) is not passed on.
    }
  }
  return headers;
}

/** The backend's 101 headers for the client: the runtime writes Upgrade and the Sec-WebSocket-* of its own hop. */
function passedOnHeaders(raw: readonly string[]): Headers {
  const headers = dropHopByHop(headersOf(raw), false);
  for (const name of ["sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions", "content-length"]) {
    headers.delete(name);
  }
  return headers;
}

/** A non-101 handshake answer as a Response; its body streams, and the request ends with it. */
function toResponse(req: ClientRequest, res: IncomingMessage): Response {
  const status = res.statusCode ?? 0;
  const headers = dropHopByHop(headersOf(res.rawHeaders), false);
  const init = { status, statusText: res.statusMessage ?? "", headers };
  if (status === 204 || status === 304) {
    const response = new Response(null, init);
    req.destroy();
    return response;
  }
  // Once the stream is closed, cancelled or errored, nothing more may be put into it.
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Buffer) => {
        if (done) return;
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.once("end", () => {
        if (!done) controller.close();
        done = true;
        req.destroy();
      });
      // A reset ends with 'close' as well (an unheard 'error' would throw).
      res.on("error", () => undefined);
      res.once("close", () => {
        if (!done) controller.error(new Error("the backend's answer ended early"));
        done = true;
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      done = true;
      req.destroy();
    },
  });
  return new Response(body, init);
}
