/**
 * Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are never forwarded, in
 * either direction, nor is any header the Connection header names. Same list as hono/proxy.
 */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
export const HOP_BY_HOP_NAMES: ReadonlySet<string> = new Set(HOP_BY_HOP);
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;

export class BadConnectionHeader extends Error {}

/**
 * The header names a Connection header lists (lower-case). `strict`: a malformed token throws
 * (a client's request); otherwise it is skipped (an upstream's response).
 */
export function connectionListed(connection: string, strict: boolean): string[] {
  const names: string[] = [];
  for (const raw of connection.split(",")) {
    const name = raw.trim();
    if (TOKEN.test(name)) names.push(name.toLowerCase());
    else if (strict && name !== "")
      throw new BadConnectionHeader(`invalid Connection header token ${JSON.stringify(name)}`);
  }
  return names;
}

/** Deletes hop-by-hop headers from `headers` in place; a malformed Connection list throws. */
export function dropHopByHop(headers: Headers, strict: boolean): Headers {
  const connection = headers.get("connection");
  if (connection) for (const name of connectionListed(connection, strict)) headers.delete(name);
  for (const name of HOP_BY_HOP) headers.delete(name);
  return headers;
}

/** Whether a fetch response needs its headers rewritten before it may go to the client. */
export function carriesHopByHop(headers: Headers): boolean {
  for (const name of HOP_BY_HOP) if (headers.has(name)) return true;
  return headers.has("content-encoding");
}
