import type { RequestId } from "../shared/request-id.ts";
import type { ClientConnection } from "./forward.ts";
import { connectionListed, dropHopByHop, HOP_BY_HOP_NAMES } from "./hop-by-hop.ts";

export interface ForwardingFacts {
  /** The host the client addressed, canonical (request-target.ts). */
  readonly host: string;
  readonly client: ClientConnection;
  readonly preserveHost: boolean;
  readonly requestId: RequestId;
}

/**
 * The client's headers minus hop-by-hop ones, plus the X-Forwarded-* set. Forwarded and
 * X-Real-IP name the client too: only a trusted proxy may set them, so from anyone else they go.
 */
export function forwardingHeaders(client: Request, options: ForwardingFacts): Headers {
  const headers = dropHopByHop(new Headers(client.headers), true);
  // The runtime negotiates and decodes compression itself (as hono/proxy does).
  headers.delete("accept-encoding");
  // The URL's host, not the Host header: on Workers they can differ and the URL is what the
  // client addressed; on Node the URL is built from the Host header anyway.
  const host = options.host;
  const { ip, proto, trustedPeer } = options.client;
  if (ip) {
    const prior = client.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior ? `${prior}, ${ip}` : ip);
  }
  if (!trustedPeer) {
    headers.delete("forwarded");
    headers.delete("x-real-ip");
  }
  headers.set("x-forwarded-proto", proto);
  headers.set("x-forwarded-host", host);
  // The balancer answers Expect: 100-continue itself (the client's body arrives either way);
  // Node's fetch refuses to send it.
  headers.delete("expect");
  if (options.preserveHost) headers.set("host", host);
  else headers.delete("host");
  // Replaces whatever the client sent under that name (kept already when it was sane).
  headers.set(options.requestId.header, options.requestId.value);
  return headers;
}

/** Headers forwardingHeaders always drops or replaces (hop-by-hop ones aside). */
const REPLACED = new Set(["accept-encoding", "expect", "host", "x-forwarded-proto", "x-forwarded-host"]);
const CLIENT_NAMING = new Set(["forwarded", "x-real-ip"]);

/**
 * forwardingHeaders' result as a flat name, value list, built in one pass over the client's
 * headers (a runtime's own client takes it as is). Content-Length stays only for a streamed
 * body: a buffered one is framed by the client from its bytes, and with no body a stale length
 * would make the upstream read the next request as this one's body (request smuggling).
 */
export function forwardingHeaderList(
  client: Request,
  options: ForwardingFacts,
  body: ArrayBuffer | ReadableStream<Uint8Array> | null,
): string[] {
  const source = client.headers;
  const connection = source.get("connection");
  const listed = connection ? connectionListed(connection, true) : undefined;
  const { ip, proto, trustedPeer } = options.client;
  const idHeader = options.requestId.header;
  const keepLength = body instanceof ReadableStream;
  const list: string[] = [];
  source.forEach((value, name) => {
    if (HOP_BY_HOP_NAMES.has(name) || REPLACED.has(name) || name === idHeader) return;
    if (name === "content-length" && !keepLength) return;
    if (ip && name === "x-forwarded-for") return;
    if (!trustedPeer && CLIENT_NAMING.has(name)) return;
    if (listed?.includes(name)) return;
    list.push(name, value);
  });
  if (ip) {
    const prior = source.get("x-forwarded-for");
    list.push("x-forwarded-for", prior ? `${prior}, ${ip}` : ip);
  }
  list.push("x-forwarded-proto", proto, "x-forwarded-host", options.host);
  if (options.preserveHost) list.push("host", options.host);
  list.push(idHeader, options.requestId.value);
  return list;
}
