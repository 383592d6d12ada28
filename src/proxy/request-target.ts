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
  /** `host`: what the client addressed, as the URL standard serialises it (X-Forwarded-Host). */
  | { readonly ok: true; readonly target: string; readonly host: string }
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
  const canonical = canonicalUrl(request.url);
  if (canonical === undefined)
    return { ok: false, status: 400, error: "bad_request", reason: "invalid request target" };
  const { target } = canonical;
  if (target.length > limits.maxUrlBytes) {
    return {
      ok: false,
      status: 414,
      error: "uri_too_long",
      reason: `the request target is longer than ${limits.maxUrlBytes} bytes`,
    };
  }
  const bytes = headerBytes(request.headers);
  if (bytes < 0)
    return { ok: false, status: 400, error: "bad_request", reason: "a header value holds a control character" };
  if (bytes > limits.maxHeaderBytes) {
    return {
      ok: false,
      status: 431,
      error: "request_header_fields_too_large",
      reason: `the request headers are larger than ${limits.maxHeaderBytes} bytes`,
    };
  }
  return { ok: true, target, host: canonical.host };
}

/**
 * Path and query of an absolute URL with dot segments resolved (RFC 3986 5.2.4, WHATWG: also
 * "%2e" and backslashes), or undefined when `url` is not an absolute http(s) URL.
 */
export function canonicalTarget(url: string): string | undefined {
  return canonicalUrl(url)?.target;
}

/**
 * Target and host of an absolute http(s) URL. The common case, a plain authority and a path
 * without dots or backslashes, is sliced without a URL parse.
 */
function canonicalUrl(url: string): { target: string; host: string } | undefined {
  const schemeEnd = url.indexOf("://");
  if (schemeEnd !== 4 && schemeEnd !== 5) return undefined;
  const hostStart = schemeEnd + 3;
  const pathStart = url.indexOf("/", hostStart);
  const authority = pathStart === -1 ? url.slice(hostStart) : url.slice(hostStart, pathStart);
  if (/^https?$/i.test(url.slice(0, schemeEnd)) && HOST.test(authority)) {
    if (pathStart === -1) return { target: "/", host: authority };
    const queryStart = url.indexOf("?", pathStart);
    const path = queryStart === -1 ? url.slice(pathStart) : url.slice(pathStart, queryStart);
    if (!needsParsing(path)) return { target: url.slice(pathStart), host: authority };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined;
  return { target: parsed.pathname + parsed.search, host: parsed.host };
}

/** Dot segments (plain or percent-encoded), backslashes or a fragment: let the URL parser decide. */
function needsParsing(path: string): boolean {
  return path.includes("/.") || path.includes("\\") || path.includes("#") || /%2e/i.test(path);
}

/**
 * Header names and values in bytes, or -1 when a value holds a control character: the Headers
 * class lets one through, Node's fetch then refuses to send it, and that would look like a backend
 * failure.
 */
function headerBytes(headers: Headers): number {
  let total = 0;
  let control = false;
  headers.forEach((value, name) => {
    total += name.length + value.length + 4;
    if (CONTROL.test(value)) control = true;
  });
  return control ? -1 : total;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
