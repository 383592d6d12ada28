/**
 * What a runtime supplies to carry WebSockets, and what the proxy hands back. Selection, retries,
 * in-flight counting and shutdown are the proxy's (handle-upgrade.ts, websocket-sessions.ts);
 * opening the backend's side and joining it to the client's is each runtime's own business:
 * a byte tunnel on Node, a message relay on Workers, Bun and Deno.
 */

/** One attempt to open a WebSocket to one backend. */
export interface UpstreamUpgrade {
  /** The backend's http(s) URL with the canonical path and query. */
  readonly url: string;
  /**
   * The client's end-to-end headers plus X-Forwarded-*, Upgrade and Connection. Sec-WebSocket-*
   * are the client's own: a byte tunnel sends them as they are; a relay, which runs its own
   * handshake upstream, sends Sec-WebSocket-Protocol as `protocols` and drops the rest.
   */
  readonly headers: Headers;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** Until the backend's handshake answer; the WebSocket itself has no time limit. */
  readonly timeoutMs: number;
}

export type Handshake =
  /** The backend answered 101: nothing is retried from here on. */
  | { readonly kind: "upgraded"; readonly latencyMs: number; accept(options: TunnelOptions): Accepted }
  /** The backend answered something else (403, 426, a 5xx...): passed to the client as it is. */
  | { readonly kind: "response"; readonly response: Response; readonly latencyMs: number }
  | { readonly kind: "unreachable" | "failed" | "timeout"; readonly reason: string };

export interface TunnelOptions {
  /** Close (1001) after this long without a message either way; 0 = never. */
  readonly idleTimeoutMs: number;
  /** More headers for the client's 101 (session affinity's Set-Cookie). */
  readonly headers?: readonly (readonly [string, string])[];
  /** Called once, when both sides are closed or gone. */
  onClosed(): void;
}

export interface Accepted {
  /** What the runtime's handler returns to its server for the client (a 101 where it can). */
  readonly response: Response;
  readonly tunnel: Tunnel;
}

/** An open WebSocket, as shutdown sees it. */
export interface Tunnel {
  /** Closes both sides with `code` and `reason` (graceful shutdown: 1001). */
  close(code: number, reason: string): void;
}

export interface WebSocketConnector {
  /** Opens the backend's side; never throws (failures are a Handshake kind). */
  connect(upgrade: UpstreamUpgrade): Promise<Handshake>;
}

/** RFC 6455 4.2.1: a GET with Upgrade: websocket and Connection naming upgrade. */
export function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  if (upgrade?.toLowerCase() !== "websocket" || request.method !== "GET") return false;
  const connection = request.headers.get("connection");
  return connection !== null && /(^|,)\s*upgrade\s*(,|$)/i.test(connection);
}

/** The subprotocols a client offered (Sec-WebSocket-Protocol, possibly repeated). */
export function offeredProtocols(headers: Headers): string[] {
  const value = headers.get("sec-websocket-protocol");
  if (!value) return [];
  return value
    .split(",")
    .map((token) => token.trim())
    .filter(Boolean);
}
