/**
 * One route's conditions and the test of a request against them. Host and path are compared as
 * strings (no regular expression per request): the config compiles each condition once, and a
 * request is lowered and normalised once before the routes are tried.
 */

/**
 * Exact host, or every subdomain of a suffix (`*.example.com`: `a.example.com`, `a.b.example.com`).
 * Both keys always present (one undefined): one object shape, read without an `in` test.
 */
export type HostPattern =
  | { readonly exact: string; readonly suffix: undefined }
  | { readonly exact: undefined; readonly suffix: string };

export interface RouteMatch {
  readonly host?: HostPattern;
  /** Without a trailing slash, and never "/" (that matches everything: no condition). */
  readonly pathPrefix?: string;
  /** Upper case. */
  readonly methods?: ReadonlySet<string>;
  /** Lower-case name, and the exact value or `true` for presence. */
  readonly headers?: readonly (readonly [string, string | true])[];
}

/**
 * Where header routes read a request header: Headers, or a runtime's cheaper view of the same
 * (Node: the IncomingMessage's own header lists; BalancerOptions.routingHeaders).
 */
export interface HeaderReader {
  /** The header's values joined with ", ", as Headers.get gives them; null when absent. */
  get(name: string): string | null;
}

/**
 * Whether a request matches: host lower case without port or trailing dot, path without query
 * (see routingTarget), method upper case. Runs for every route before the one that matches, so
 * it reads each condition once and walks header conditions by index (no iterator objects).
 */
export function matches(match: RouteMatch, host: string, path: string, method: string, headers: HeaderReader): boolean {
  const pattern = match.host;
  if (pattern !== undefined && !hostMatches(pattern, host)) return false;
  const prefix = match.pathPrefix;
  if (prefix !== undefined && !underPrefix(path, prefix)) return false;
  const methods = match.methods;
  if (methods !== undefined && !methods.has(method)) return false;
  const wanted = match.headers;
  if (wanted !== undefined) {
    for (let i = 0; i < wanted.length; i++) {
      const condition = wanted[i]!;
      const value = headers.get(condition[0]);
      if (value === null || (condition[1] !== true && value !== condition[1])) return false;
    }
  }
  return true;
}

export function hostMatches(pattern: HostPattern, host: string): boolean {
  return pattern.exact !== undefined
    ? host === pattern.exact
    : host.length > pattern.suffix.length && host.endsWith(pattern.suffix);
}

/** Whole segments: `/static` covers `/static` and `/static/x`, not `/staticky`. */
export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */;
}

/**
 * A config host pattern, or why it is not one. Lower case; `*.` only as the first label; no
 * port (a route matches whatever port the client used).
 */
export function parseHostPattern(text: string): HostPattern | string {
  const host = text.toLowerCase().replace(/\.$/, "");
  const wildcard = host.startsWith("*.");
  const name = wildcard ? host.slice(2) : host;
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name) || name.split(".").some((label) => label.length > 63)) {
    return 'expected a host name like "api.example.com" or "*.example.com" (no port, no scheme)';
  }
  return wildcard ? { exact: undefined, suffix: `.${name}` } : { exact: name, suffix: undefined };
}

/** The prefix as routes compare it: leading slash, no trailing slash; "/" means no condition. */
export function normalizePrefix(prefix: string): string | undefined {
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" ? undefined : trimmed;
}

/** Host header value as routes compare it: lower case, port and trailing dot removed. */
export function routingHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) !== 91 /* [ */) {
    const colon = host.lastIndexOf(":");
    if (colon !== -1) end = colon;
  } else {
    end = host.indexOf("]") + 1 || host.length;
  }
  if (host.charCodeAt(end - 1) === 46 /* . */) end--;
  const bare = end === host.length ? host : host.slice(0, end);
  return bare.toLowerCase();
}

/**
 * The target with percent-escapes of unreserved characters decoded (RFC 3986 6.2.2.2 says
 * `/%73tatic` and `/static` are the same resource), so an encoded spelling cannot slip past a
 * route. Only escapes that are not reserved are decoded; `%2F` stays a literal slash in a segment.
 */
export function routingTarget(target: string): string {
  if (!target.includes("%")) return target;
  return target.replace(/%([0-9A-Fa-f]{2})/g, (encoded, hex: string) => {
    const code = Number.parseInt(hex, 16);
    const unreserved =
      (code >= 0x30 && code <= 0x39) ||
      (code >= 0x41 && code <= 0x5a) ||
      (code >= 0x61 && code <= 0x7a) ||
      code === 0x2d ||
      code === 0x2e ||
      code === 0x5f ||
      code === 0x7e;
    return unreserved ? String.fromCharCode(code) : encoded.toUpperCase();
  });
}

/** The path part of a target (everything before "?"). */
export function pathOf(target: string): string {
  const query = target.indexOf("?");
  return query === -1 ? target : target.slice(0, query);
}

/** `/static/x?q` without `/static` is `/x?q`; `/static` alone becomes `/`. */
export function stripPrefix(target: string, prefix: string): string {
  const rest = target.slice(prefix.length);
  return rest === "" || rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
}

/** A route's `match` as the config writes it (snake_case JSON). */
export interface MatchConfig {
  readonly host?: string | undefined;
  readonly path_prefix?: string | undefined;
  readonly method?: string | readonly string[] | undefined;
  readonly headers?: Readonly<Record<string, string | true>> | undefined;
}

/** The config's match, compiled once; undefined when it sets no condition (a catch-all). */
export function compileMatch(config: MatchConfig | undefined): RouteMatch | undefined {
  if (!config) return undefined;
  const host = config.host === undefined ? undefined : parseHostPattern(config.host);
  const pathPrefix = config.path_prefix === undefined ? undefined : normalizePrefix(config.path_prefix);
  const methods =
    config.method === undefined
      ? undefined
      : new Set((typeof config.method === "string" ? [config.method] : config.method).map((m) => m.toUpperCase()));
  const headers = Object.entries(config.headers ?? {}).map(([name, want]) => [name.toLowerCase(), want] as const);
  // Every key present, unset ones undefined: matches() then reads one object shape for all routes
  // (with a shape per combination of conditions, its property loads went megamorphic).
  const match: RouteMatch = {
    host: typeof host === "object" ? host : undefined,
    pathPrefix,
    methods,
    headers: headers.length > 0 ? headers : undefined,
  };
  return match.host || pathPrefix !== undefined || methods || match.headers ? match : undefined;
}
