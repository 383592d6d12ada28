// fast-check arbitraries for hostile HTTP/1.x requests, and the oracles the property suite
// applies to what the balancer did with them. A request is kept as structured parts (method,
// target, version, headers, body) so fast-check can shrink each part, and is turned into raw
// bytes (test/support/raw-http.ts) or into a web Request (in-process) only when sent.
//
// Bounded by construction: a path of at most 4,000 characters, one long header value of at
// most 12 KB, a body of at most 64 bytes: some 21 KB per request at worst, most under 1 KB. No CR or LF is ever generated inside a field: header injection would make the request's
// own framing (and so the "never hangs" property) depend on each runtime's parser.
import fc from "fast-check";
import type { RawRequest } from "./raw-http.ts";

export interface HostileRequest {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  /** Host header lines as sent (0, 1 or 2 of them; the name's case varies). */
  readonly hosts: readonly (readonly [string, string])[];
  /** Every other header line, framing (Content-Length, Transfer-Encoding) included. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

export interface Addresses {
  /** host:port of servers that are not backends and must never be contacted. */
  readonly canaries: readonly string[];
  /** host:port of the real backends (a client may name them too). */
  readonly backends: readonly string[];
}

type Lines = (readonly [string, string])[];

/** Shrinking may jump to the first (plainest) alternative: simpler counterexamples. */
const CROSS_SHRINK = { withCrossShrink: true } as const;

/** Path segments a traversal or a confused parser is made of. */
const NASTY_SEGMENTS = [
  "",
  ".",
  "..",
  "...",
  "%2e",
  "%2E",
  "%2e%2e",
  "%2E%2e",
  "%2e%2E",
  ".%2e",
  "%2e.",
  "%2E.",
  "..%2f",
  "..%2F",
  "%2f..",
  "%2f",
  "%2F",
  "%5c",
  "%5C",
  "..%5c",
  "\\",
  "..\\",
  "\\..",
  ".\\",
  "..;",
  ";..",
  "%00",
  "%25",
  "%252e%252e",
  "%",
  "%z",
  "%e",
  "@",
  "api",
  "_lb",
  "_lb%2f",
  "~",
  ":",
  "%c3%a9",
  "é",
  "日本",
  "😀",
  "%ff",
  "a?b",
  "a#b",
];

const ALPHABET = [
  "/",
  ".",
  ".",
  "%",
  "2",
  "e",
  "E",
  "f",
  "5",
  "c",
  "\\",
  "@",
  "?",
  "#",
  ":",
  ";",
  "a",
  "é",
  "~",
  "&",
  "=",
];

function segment(addresses: Addresses): fc.Arbitrary<string> {
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 6, arbitrary: fc.constantFrom(...NASTY_SEGMENTS) },
    { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9._~-]{1,8}$/) },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom(...addresses.canaries, ...addresses.canaries.map((c) => `@${c}`)) },
    // Long segments: 414 territory on some runtimes, plain text on others.
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom("a", "%2e", "..", "é"), fc.integer({ min: 50, max: 1_200 }))
        .map(([s, n]) => s.repeat(n)),
    },
  );
}

/** "/" joined segments with the odd backslash or doubled slash as separator. */
function path(addresses: Addresses): fc.Arbitrary<string> {
  return (
    fc
      .array(fc.tuple(fc.constantFrom("/", "/", "/", "/", "\\", "//"), segment(addresses)), {
        minLength: 0,
        maxLength: 8,
      })
      // Several long segments together are cut at 4,000 characters: bounded bytes per request.
      .map((parts) =>
        parts
          .map(([sep, seg]) => sep + seg)
          .join("")
          .slice(0, 4_000),
      )
  );
}

const query = fc.option(
  fc
    .string({ unit: fc.constantFrom(...ALPHABET, "..", "/../", "%2e%2e", " ", "http://"), maxLength: 10 })
    .map((q) => `?${q}`),
  { nil: "", freq: 2 },
);
const fragment = fc.option(fc.constantFrom("#", "#x", "#/../..", "#@127.0.0.1", "#?a"), { nil: "", freq: 5 });

/** Request targets: origin-form most of the time, then absolute-, authority-, asterisk-form and junk. */
export function target(addresses: Addresses): fc.Arbitrary<string> {
  const canary = fc.constantFrom(...addresses.canaries);
  const authority = fc.oneof(
    canary,
    fc.constantFrom(...addresses.backends, "lb.local", "localhost", "127.0.0.1", "[::1]"),
    canary.map((c) => `lb.local@${c}`),
    canary.map((c) => `user:pass@${c}`),
    canary.map((c) => `${c}@lb.local`),
    canary.map((c) => `${c}\\@lb.local`),
  );
  const origin = fc
    .tuple(path(addresses), query, fragment)
    .map(([p, q, f]) => (p.startsWith("/") ? p : `/${p}`) + q + f);
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 10, arbitrary: origin },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom("http://", "https://", "HTTP://", "http:/", "http:\\\\", "ftp://", "http:///"),
          authority,
          path(addresses),
          query,
        )
        .map(([scheme, a, p, q]) => scheme + a + p + q),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom("//", "\\\\", "/\\", "///"), authority, path(addresses))
        .map(([s, a, p]) => s + a + p),
    },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom("", "@", ":@"), authority).map(([s, a]) => s + a) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("*", "", "?", "#", "x", "..", "./x", "../x", "?/../x", "%2f", "/%2f..%2f..%2fx"),
    },
  );
}

export function hostHeaders(addresses: Addresses): fc.Arbitrary<(readonly [string, string])[]> {
  const value = fc.oneof(
    CROSS_SHRINK,
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        "lb.local",
        "localhost",
        "127.0.0.1",
        "LB.LOCAL",
        "lb.local.",
        "lb.local:80",
        "[::1]",
        "[::1]:8080",
      ),
    },
    { weight: 3, arbitrary: fc.constantFrom(...addresses.canaries, ...addresses.backends) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        ...addresses.canaries.flatMap((c) => [`${c}/..`, `${c}/x`, `x@${c}`, `${c}@lb.local`, `lb.local/../${c}`]),
        "a/b",
        "a/../..",
        "..",
        ".",
        "a@b",
        "a b",
        "",
        " ",
        "lb.local:abc",
        "lb.local:99999",
        "lb.local:",
        "é.example",
        "a\tb",
        "a?b",
        "a#b",
        "a\\b",
        "%2e%2e",
        "lb.local/",
        "/",
        "//",
        "http://lb.local",
        "[::1",
        "a,b",
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...ALPHABET, "a", "b", " "), maxLength: 12 }) },
    { weight: 1, arbitrary: fc.integer({ min: 64, max: 600 }).map((n) => `${"a".repeat(n)}.example`) },
  );
  const name = fc.constantFrom<string>("Host", "Host", "host", "HOST");
  return fc.oneof<fc.WeightedArbitrary<Lines>[]>(
    CROSS_SHRINK,
    { weight: 6, arbitrary: fc.tuple(name, value).map((h) => [h]) },
    { weight: 1, arbitrary: fc.constant<(readonly [string, string])[]>([]) },
    {
      weight: 2,
      arbitrary: fc.tuple(name, value, name, value).map(([n1, v1, n2, v2]) => [[n1, v1] as const, [n2, v2] as const]),
    },
    // A name with whitespace before the colon is a request a server must refuse.
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom<string>("Host ", " Host", "Ho st"), value).map(([n, v]) => [[n, v] as const]),
    },
  );
}

export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] as const;

export const method = fc.oneof(
  CROSS_SHRINK,
  { weight: 8, arbitrary: fc.constantFrom<string>(...METHODS) },
  { weight: 3, arbitrary: fc.constantFrom("TRACE", "TRACK", "CONNECT") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "get",
      "head",
      "post",
      "put",
      "delete",
      "options",
      "patch",
      "trace",
      "connect",
      "Get",
      "hEaD",
      "pAtCh",
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "PROPFIND",
      "QUERY",
      "M-SEARCH",
      "PURGE",
      "BREW",
      "X",
      "FOO-BAR",
      "GET/",
      "GET\t",
      "G@T",
      "ÄÖ",
      "",
      "GET\x00",
      "123",
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/) },
);

export const version = fc.oneof(
  CROSS_SHRINK,
  { weight: 12, arbitrary: fc.constant("HTTP/1.1") },
  { weight: 2, arbitrary: fc.constant("HTTP/1.0") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("HTTP/1.2", "HTTP/2.0", "HTTP/3", "http/1.1", "HTTP/1.1 x", "HTTP/1", "HTTP/01.1"),
  },
);

const IP_VALUES = [
  "1.2.3.4",
  "203.0.113.7",
  "::1",
  "unknown",
  "",
  "1.2.3.4, 5.6.7.8",
  "127.0.0.1",
  "10.0.0.1",
  "999.1.1.1",
  "[::1]:80",
  "_hidden",
  "1.2.3.4:80",
];

/** `arb` with probability `percent`, else undefined; shrinks towards undefined. */
function optional<T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    CROSS_SHRINK,
    { weight: 100 - percent, arbitrary: fc.constant(undefined) },
    { weight: percent, arbitrary: arb },
  );
}

/** Proxy headers a client has no business sending: X-Forwarded-*, Forwarded, X-Real-IP. */
function proxyHeaders(addresses: Addresses): fc.Arbitrary<Lines> {
  const canary = fc.constantFrom(...addresses.canaries);
  return fc
    .record({
      xff: optional(fc.oneof(fc.constantFrom(...IP_VALUES), canary), 60),
      forwarded: optional(
        fc.oneof(
          canary.map((c) => `for=1.2.3.4;host=${c};proto=https`),
          fc.constantFrom('for="[::1]"', "by=x", "for=unknown, for=5.6.7.8", "garbage", ";;;", 'for="'),
        ),
        40,
      ),
      realIp: optional(fc.constantFrom(...IP_VALUES), 30),
      proto: optional(fc.constantFrom("https", "http", "ftp", "javascript", "", "HTTPS", "https, http"), 30),
      xfHost: optional(fc.oneof(canary, fc.constantFrom("evil.example", "a/b", "", "lb.local")), 30),
    })
    .map((h) => {
      const out: Lines = [];
      if (h.xff !== undefined) out.push(["X-Forwarded-For", h.xff]);
      if (h.forwarded !== undefined) out.push(["Forwarded", h.forwarded]);
      if (h.realIp !== undefined) out.push(["X-Real-IP", h.realIp]);
      if (h.proto !== undefined) out.push(["X-Forwarded-Proto", h.proto]);
      if (h.xfHost !== undefined) out.push(["X-Forwarded-Host", h.xfHost]);
      return out;
    });
}

/** Connection naming hop-by-hop, end-to-end, forwarding and invalid tokens. */
const connection: fc.Arbitrary<Lines> = fc
  .array(
    fc.constantFrom(
      "close",
      "keep-alive",
      "Keep-Alive",
      "upgrade",
      "x-forwarded-for",
      "x-forwarded-host",
      "host",
      "te",
      "transfer-encoding",
      "content-length",
      "x-real-ip",
      "forwarded",
      "authorization",
      "@@",
      "a b",
      "",
      "Close",
      "x-custom",
      "é",
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((tokens) => [["Connection", tokens.join(", ")] as const]);

const expectHeader: fc.Arbitrary<Lines> = fc
  .constantFrom("100-continue", "100-Continue", "200-ok", "")
  .map((v) => [["Expect", v] as const]);

/** One long header value: 1-12 KB (Node refuses heads over 16 KiB with 431). */
const longHeader: fc.Arbitrary<Lines> = fc
  .tuple(
    fc.constantFrom("X-Long", "Cookie", "User-Agent", "X-Forwarded-For"),
    fc.constantFrom("a", "1.2.3.4, ", "é"),
    fc.integer({ min: 1_000, max: 12_000 }),
  )
  .map(([name, unit, bytes]) => {
    const chars = Math.floor((bytes * unit.length) / Buffer.byteLength(unit));
    return [[name, unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars)] as const];
  });

/** Control characters, bad names, credentials that are not the admin's. */
const oddHeader: fc.Arbitrary<Lines> = fc
  .constantFrom<readonly [string, string]>(
    ["X-Ctl", "a\x01b"],
    ["X-Del", "a\x7fb"],
    ["X-Nul", "a\x00b"],
    ["X-Tab", "a\tb"],
    ["Bad Name", "x"],
    [":authority", "lb.local"],
    ["X-Empty", ""],
    ["Authorization", "Bearer not-the-token"],
    ["Cookie", "edge_lb_admin=guess"],
    ["X-Utf8", "café"],
  )
  .map((line) => [line]);

/** Encodes `payload` as one chunk plus the last chunk. */
const chunkedOf = (payload: string) =>
  payload.length === 0 ? "0\r\n\r\n" : `${payload.length.toString(16)}\r\n${payload}\r\n0\r\n\r\n`;

/**
 * Body and framing headers. Whatever framing a server believes, the bytes sent end the message
 * there (a chunked body is sent with a Content-Length equal to its own length; conflicting
 * lengths are followed by as many bytes as the larger one), so no answer has to wait for a
 * body that is not coming.
 */
const framing: fc.Arbitrary<{ headers: (readonly [string, string])[]; body: string }> = fc
  .tuple(
    fc.constantFrom(
      "length",
      "chunked",
      "chunked",
      "chunked+length",
      "odd-te+length",
      "odd-te",
      "odd-length",
      "two-lengths",
    ),
    fc.string({ unit: fc.constantFrom("a", "b", "0", "\r\n", "G", " "), maxLength: 24 }),
    fc.constantFrom(
      "chunked, chunked",
      "gzip, chunked",
      "Chunked",
      " chunked",
      "chunked ",
      "identity",
      "gzip",
      "xchunked",
      "chunked;q=1",
      "identity, chunked",
      "chunked, identity",
      "",
    ),
    fc.constantFrom("+5", "-1", "0x5", "5 ", "5, 5", " 5", "abc", "99999999999999999999", "1e1", "5,"),
  )
  .map(([kind, payload, te, oddLength]) => {
    switch (kind) {
      case "length":
        return { headers: [["Content-Length", String(Buffer.byteLength(payload))] as const], body: payload };
      case "chunked":
        return { headers: [["Transfer-Encoding", "chunked"] as const], body: chunkedOf(payload) };
      case "chunked+length": {
        const body = chunkedOf(payload);
        return {
          headers: [["Transfer-Encoding", "chunked"] as const, ["Content-Length", String(body.length)] as const],
          body,
        };
      }
      case "odd-te+length": {
        const body = chunkedOf(payload);
        return {
          headers: [["Transfer-Encoding", te] as const, ["Content-Length", String(body.length)] as const],
          body,
        };
      }
      case "odd-te":
        return { headers: [["Transfer-Encoding", te] as const], body: chunkedOf(payload) };
      case "odd-length": {
        // As many bytes as the largest number a lenient parser could read in it (bounded).
        const numbers = (oddLength.match(/\d+/g) ?? []).map(Number).filter((n) => n <= 64);
        const length = Math.max(0, ...numbers, oddLength === "0x5" ? 5 : 0, oddLength === "1e1" ? 10 : 0);
        return { headers: [["Content-Length", oddLength] as const], body: "x".repeat(length) };
      }
      case "two-lengths": {
        const length = Buffer.byteLength(payload);
        return {
          headers: [["Content-Length", "0"] as const, ["Content-Length", String(length)] as const],
          body: payload,
        };
      }
      default:
        throw new Error(`unknown framing ${kind}`);
    }
  });

/** A plain request's parts: what each hostile dimension falls back to. */
const plainPath = fc
  .array(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), { maxLength: 4 })
  .chain((segments) => fc.constantFrom("", "?q=1", "?a=b&c").map((q) => `/${segments.join("/")}${q}`));

function plainHost(addresses: Addresses): fc.Arbitrary<Lines> {
  return fc
    .constantFrom("lb.local", "localhost", "127.0.0.1", "lb.local:8080", ...addresses.canaries, ...addresses.backends)
    .map((v) => [["Host", v] as const]);
}

const plainFraming = fc
  .oneof(
    CROSS_SHRINK,
    { weight: 3, arbitrary: fc.constant("") },
    { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom("a", "b", "0"), minLength: 1, maxLength: 16 }) },
  )
  .map((payload) => ({
    headers: payload === "" ? [] : [["Content-Length", String(payload.length)] as const],
    body: payload,
  }));

/** Whether a dimension is hostile, with probability `percent`; shrinks towards plain. */
const hostile = (percent: number) =>
  fc.oneof(
    CROSS_SHRINK,
    { weight: 100 - percent, arbitrary: fc.constant(false) },
    { weight: percent, arbitrary: fc.constant(true) },
  );

/**
 * A request with a few hostile parts and the rest plain, so that most requests get past the
 * runtime's parser into the balancer, and a shrunk counterexample keeps only the parts that
 * matter (every dimension shrinks back to plain).
 */
export function hostileRequest(addresses: Addresses): fc.Arbitrary<HostileRequest> {
  return fc
    .record({
      hostile: fc.record({
        method: hostile(25),
        target: hostile(65),
        version: hostile(8),
        host: hostile(35),
        proxy: hostile(40),
        connection: hostile(15),
        framing: hostile(20),
        expect: hostile(8),
        long: hostile(6),
        odd: hostile(10),
      }),
      plainMethod: fc.constantFrom<string>(...METHODS),
      method,
      plainPath,
      target: target(addresses),
      version,
      plainHost: plainHost(addresses),
      hosts: hostHeaders(addresses),
      proxy: proxyHeaders(addresses),
      connection,
      plainFraming,
      framing,
      expect: expectHeader,
      long: longHeader,
      odd: oddHeader,
    })
    .map((r) => {
      const h = r.hostile;
      const framed = h.framing ? r.framing : r.plainFraming;
      return {
        method: h.method ? r.method : r.plainMethod,
        target: h.target ? r.target : r.plainPath,
        version: h.version ? r.version : "HTTP/1.1",
        hosts: h.host ? r.hosts : r.plainHost,
        headers: [
          ...(h.proxy ? r.proxy : []),
          ...(h.connection ? r.connection : []),
          ...(h.expect ? r.expect : []),
          ...(h.long ? r.long : []),
          ...(h.odd ? r.odd : []),
          ...framed.headers,
        ],
        body: framed.body,
      };
    });
}

const lower = (name: string) => name.toLowerCase();
const headerValues = (request: HostileRequest, name: string) =>
  request.headers.filter(([n]) => lower(n) === name).map(([, v]) => v);

/** Whether the method is HEAD to a case-insensitive reader but not to a case-sensitive one. */
export const headLike = (m: string) => m !== "HEAD" && m.toUpperCase() === "HEAD";

/**
 * The bytes as they go on the wire. Without a Connection header of the generator's own, the
 * request says `Connection: close`; a method that is HEAD only case-insensitively always does
 * (its answer's body may be there or not, and only the close tells which).
 */
export function toRaw(request: HostileRequest): RawRequest {
  const headers = [...request.hosts, ...request.headers];
  const connection = headerValues(request, "connection");
  if (connection.length === 0) headers.push(["Connection", "close"]);
  else if (headLike(request.method)) headers.push(["Connection", "close"]);
  return {
    method: request.method,
    target: request.target,
    version: request.version,
    headers,
    body: Buffer.from(request.body, "utf8"),
  };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ORIGIN_FORM = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
const PLAIN_HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Plainly valid HTTP/1.x by RFC 9112, with nothing a strict runtime may refuse by closing:
 * a standard upper-case method, HTTP/1.0 or 1.1, an ASCII origin- or absolute-form target, one
 * ordinary Host, printable ASCII header values, no Transfer-Encoding, a plain Content-Length and
 * a head under 8 KiB. Such a request must get an HTTP answer; anything else may instead be
 * refused by the runtime's parser with a close.
 */
export function plainlyValid(request: HostileRequest): boolean {
  if (!(METHODS as readonly string[]).includes(request.method) && request.method !== "TRACE") return false;
  if (request.version !== "HTTP/1.1" && request.version !== "HTTP/1.0") return false;
  const absolute = /^http:\/\/([A-Za-z0-9.-]+(?::\d{1,5})?)(\/.*)?$/.exec(request.target);
  if (!ORIGIN_FORM.test(request.target) && !(absolute && (absolute[2] === undefined || ORIGIN_FORM.test(absolute[2]))))
    return false;
  if (request.target.length > 2_048) return false;
  if (request.hosts.length !== 1) return false;
  const [hostName, hostValue] = request.hosts[0]!;
  if (hostName.toLowerCase() !== "host" || !PLAIN_HOST.test(hostValue)) return false;
  const port = /:(\d+)$/.exec(hostValue)?.[1];
  if (port !== undefined && Number(port) > 65_535) return false;
  let headBytes = request.method.length + request.target.length + 16;
  for (const [name, value] of [...request.hosts, ...request.headers]) {
    if (!TOKEN.test(name) || !/^[\x20-\x7e]*$/.test(value)) return false;
    headBytes += name.length + value.length + 4;
  }
  if (headBytes > 8 * 1024) return false;
  if (headerValues(request, "transfer-encoding").length > 0) return false;
  const lengths = headerValues(request, "content-length");
  if (lengths.length > 1 || (lengths.length === 1 && !/^\d+$/.test(lengths[0]!))) return false;
  const expect = headerValues(request, "expect");
  if (expect.some((v) => v.toLowerCase() !== "100-continue")) return false;
  return true;
}

/**
 * The request as a web Request, the way a runtime would hand a parsed message to the handler
 * (in-process runs): URL "http://lb.local" + target (an absolute-form target as it is), the
 * headers a Request accepts, framing headers that agree with the body, and no body on GET/HEAD.
 * Undefined when a Request refuses it (bad method, URL or header).
 */
export function toWebRequest(request: HostileRequest): Request | undefined {
  const url = /^https?:\/\//i.test(request.target) ? request.target : `http://lb.local${request.target}`;
  const headers = new Headers();
  try {
    for (const [name, value] of [...request.hosts, ...request.headers]) {
      const n = lower(name);
      if (n === "content-length" || n === "transfer-encoding") continue;
      headers.append(name, value);
    }
    const method = request.method;
    const bodiless = ["GET", "HEAD"].includes(method.toUpperCase());
    const body = bodiless || request.body === "" ? undefined : request.body;
    if (body !== undefined) headers.set("content-length", String(Buffer.byteLength(body)));
    return new Request(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  } catch {
    return undefined;
  }
}

/** Compact, reproducible description for failure messages. */
export function describeRequest(request: HostileRequest): string {
  const raw = toRaw(request);
  const head = `${raw.method} ${raw.target} ${raw.version}\r\n${raw.headers.map(([n, v]) => `${n}: ${v.length > 120 ? `${v.slice(0, 60)}…(${v.length} chars)` : v}`).join("\r\n")}`;
  return JSON.stringify(head + (request.body ? `\r\n\r\n${request.body}` : ""));
}

/**
 * Why an upstream's view of a request's target escapes the backend's base path, or undefined.
 * Checked on the raw req.url and again as a WHATWG-parsing upstream would resolve it (dot
 * segments, "%2e", backslashes), so "/api/../x" reaching the upstream counts as an escape.
 */
export function basePathEscape(url: string, base: string): string | undefined {
  const inside = (path: string) => path === base || path.startsWith(`${base}/`);
  const rawPath = url.split("?")[0]!;
  if (!inside(rawPath)) return `path ${JSON.stringify(rawPath)} is outside ${base}`;
  let resolved: string;
  try {
    resolved = new URL(url, "http://upstream.invalid").pathname;
  } catch {
    return `target ${JSON.stringify(url)} is not a URL path`;
  }
  if (!inside(resolved))
    return `target ${JSON.stringify(url)} resolves to ${JSON.stringify(resolved)}, outside ${base}`;
  return undefined;
}
