/**
 * What the balancer accepts as a request target before it chooses a backend. The upstream URL is
 * the backend's origin and base path plus this canonical path and query, so nothing a client
 * writes (dot segments, encoded dots, backslashes, an absolute-form target, a strange Host) can
 * change the host contacted or climb out of the base path. Pure: the same on every runtime.
 */

export interface TargetLimits {
  /** Longest path plus query, in UTF-16 units of the serialised URL (ASCII after parsing). */
  readonly maxUrlBytes: number;
  /** Most bytes of header names and values together. */
  readonly maxHeaderBytes: number;
}

export type TargetCheck =
  | { readonly ok: true; readonly target: string }
  | { readonly ok: false; readonly status: 400 | 405 | 414 | 431; readonly error: string; readonly reason: string };

/** Methods a proxy must not pass on: TRACE/TRACK reflect credentials, CONNECT opens a tunnel. */
const REFUSED_METHODS = new Set(["TRACE", "TRACK", "CONNECT"]);
export const ALLOWED_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH";

/**
 * A Host header as RFC 9110 allows it: a reg-name, IPv4 or bracketed IPv6 literal, optional port.
 * Slashes, "..", "@", spaces and the like are refused, whatever the runtime made of them.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_~!$&'()*+,;=%]+(?:\.[A-Za-z0-9\-_~!$&'()*+,;=%]+)*\.?)(?::\d{1,5})?$/;

/**
 * The request's canonical target (path and query), or why it is refused. `url` is the runtime's
 * request.url: workerd, Node and Bun normalise it already, Deno does not (`/../x` arrives as is),
 * and Bun makes it relative when the Host header is unusable.
 */
export function checkTarget(request: Request, limits: TargetLimits): TargetCheck {
  if (REFUSED_METHODS.has(request.method.toUpperCase())) {
    return { ok: false, status: 405, error: "method_not_allowed", reason: `${request.method} is not forwarded` };
  }
  const host = request.headers.get("host");
  if (host !== null && host !== "" && !HOST.test(host)) {
    return { ok: false, status: 400, error: "bad_request", reason: "invalid Host header" };
  }
  const target = canonicalTarget(request.url);
  if (target === undefined) return { ok: false, status: 400, error: "bad_request", reason: "invalid request target" };
  if (target.length > limits.maxUrlBytes) {
    return { ok: false, status: 414, error: "uri_too_long", reason: `the request target is longer than ${limits.maxUrlBytes} bytes` };
  }
  if (headerBytes(request.headers) > limits.maxHeaderBytes) {
    return {
      ok: false,
      status: 431,
      error: "request_header_fields_too_large",
      reason: `the request headers are larger than ${limits.maxHeaderBytes} bytes`,
    };
  }
  return { ok: true, target };
}

/**
 * Path and query of an absolute URL with dot segments resolved (RFC 3986 5.2.4, WHATWG: also
 * "%2e" and backslashes), or undefined when `url` is not an absolute http(s) URL. The common
 * case, a path without dots or backslashes, is sliced without a URL parse.
 */
export function canonicalTarget(url: string): string | undefined {
  const schemeEnd = url.indexOf("://");
  if (schemeEnd !== 4 && schemeEnd !== 5) return undefined;
  const pathStart = url.indexOf("/", schemeEnd + 3);
  if (pathStart === -1) return plainAuthority(url) ? "/" : undefined;
  const queryStart = url.indexOf("?", pathStart);
  const path = queryStart === -1 ? url.slice(pathStart) : url.slice(pathStart, queryStart);
  if (!needsParsing(path) && plainAuthority(url.slice(0, pathStart))) return url.slice(pathStart);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined;
  return parsed.pathname + parsed.search;
}

/** Dot segments (plain or percent-encoded), backslashes or a fragment: let the URL parser decide. */
function needsParsing(path: string): boolean {
  return path.includes("/.") || path.includes("\\") || path.includes("#") || /%2e/i.test(path);
}

/** scheme://host[:port] with nothing a parser could read as user info or a second path. */
function plainAuthority(prefix: string): boolean {
  const authority = prefix.slice(prefix.indexOf("://") + 3);
  return /^https?:\/\//i.test(prefix) && HOST.test(authority);
}

function headerBytes(headers: Headers): number {
  let total = 0;
  headers.forEach((value, name) => {
    total += name.length + value.length + 4;
  });
  return total;
}
