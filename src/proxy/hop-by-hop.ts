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
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;

export class BadConnectionHeader extends Error {}

/** Deletes hop-by-hop headers from `headers` in place; a malformed Connection list throws. */
export function dropHopByHop(headers: Headers, strict: boolean): Headers {
  const connection = headers.get("connection");
  if (connection) {
    for (const raw of connection.split(",")) {
      const name = raw.trim();
      if (TOKEN.test(name)) headers.delete(name);
      else if (strict && name !== "")
        throw new BadConnectionHeader(`invalid Connection header token ${JSON.stringify(name)}`);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
  return headers;
}

/** Whether any hop-by-hop header is present. */
export function hasHopByHop(headers: Headers): boolean {
  for (const name of HOP_BY_HOP) if (headers.has(name)) return true;
  return false;
}

/** Whether a fetch response needs its headers rewritten before it may go to the client. */
export function carriesHopByHop(headers: Headers): boolean {
  return hasHopByHop(headers) || headers.has("content-encoding");
}
