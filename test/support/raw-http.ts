// A raw HTTP/1.1 client over node:net: it sends a request line and header block byte for byte
// (fetch cannot send a malformed target, an absolute-form target or a Host of its choosing)
// and parses what comes back strictly, with a deadline per exchange.
//
// The parser accepts exactly what RFC 9112 lets a server send: a status line
// "HTTP/1.x NNN[ reason]", header fields "name: value" (no obs-fold), then a body framed by
// Transfer-Encoding: chunked, Content-Length, or the connection's close; no body at all for
// 1xx, 204, 304, an answer to HEAD and a 2xx answer to CONNECT. Interim 1xx answers (100
// Continue) are collected and the final answer follows them.
import { connect } from "node:net";

export interface RawRequest {
  readonly method: string;
  readonly target: string;
  /** "HTTP/1.1" normally; anything else is sent as it is. */
  readonly version: string;
  /** Header fields in order, repeats kept, sent as "name: value". */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

/** The request's bytes exactly as they go on the wire (strings as UTF-8). */
export function encodeRequest(request: RawRequest): Buffer {
  const head =
    `${request.method} ${request.target} ${request.version}\r\n` +
    request.headers.map(([name, value]) => `${name}: ${value}\r\n`).join("") +
    "\r\n";
  return Buffer.concat([Buffer.from(head, "utf8"), Buffer.from(request.body)]);
}

export interface ParsedResponse {
  readonly version: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly framing: "none" | "content-length" | "chunked" | "close";
  readonly body: Buffer;
}

export type RawOutcome =
  /** A well-formed final response (after any interim 1xx ones). */
  | {
      readonly kind: "response";
      readonly interim: readonly ParsedResponse[];
      readonly response: ParsedResponse;
      /** Bytes that followed the final response before we closed (a second answer, say). */
      readonly trailing: Buffer;
      readonly ms: number;
    }
  /** The server closed (FIN or RST) without sending one byte. */
  | { readonly kind: "closed"; readonly how: "eof" | "reset"; readonly ms: number }
  /** Bytes came back that are not a well-formed HTTP/1.x response, or it was cut short. */
  | { readonly kind: "malformed"; readonly reason: string; readonly received: Buffer; readonly ms: number }
  /** Neither a complete response nor a close within the deadline. */
  | { readonly kind: "timeout"; readonly received: Buffer; readonly ms: number }
  /** Could not connect at all. */
  | { readonly kind: "connect-error"; readonly error: string; readonly ms: number };

export interface ExchangeOptions {
  readonly port: number;
  readonly host?: string;
  /** Whole exchange, from connect to the end of the final response. */
  readonly deadlineMs: number;
  /**
   * Whether the final response may come without a body whatever its headers say: true for
   * HEAD. For a method that equals HEAD only case-insensitively ("head"), servers disagree on
   * whether it is HEAD, so a response whose body never starts (the server closes right after
   * the head) is accepted as well as a complete framed body.
   */
  readonly noBody?: boolean | "either";
  /** CONNECT: a 2xx answer opens a tunnel and has no body. */
  readonly connect?: boolean;
  /** Answers bigger than this are malformed for our purposes (the upstreams answer a line). */
  readonly maxResponseBytes?: number;
}

/** Sends `bytes` on a fresh connection and reads one answer. Never rejects. */
export function exchange(bytes: Uint8Array, options: ExchangeOptions): Promise<RawOutcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  const maxBytes = options.maxResponseBytes ?? 1 << 20;
  return new Promise<RawOutcome>((resolve) => {
    const socket = connect({ port: options.port, host: options.host ?? "127.0.0.1" });
    let received = Buffer.alloc(0);
    let connected = false;
    let settled = false;
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: "timeout", received, ms: ms() }), options.deadlineMs);

    const evaluate = (eof: boolean, reset: boolean) => {
      if (received.length === 0) {
        if (eof) finish({ kind: "closed", how: reset ? "reset" : "eof", ms: ms() });
        return;
      }
      const result = parseExchange(received, eof, options);
      if (result.state === "incomplete") {
        if (received.length > maxBytes)
          finish({
            kind: "malformed",
            reason: `more than ${maxBytes} bytes without a complete response`,
            received,
            ms: ms(),
          });
        else if (eof)
          finish({
            kind: "malformed",
            reason: `${reset ? "connection reset" : "end of stream"} in the middle of a response (${result.waiting})`,
            received,
            ms: ms(),
          });
        return;
      }
      if (result.state === "malformed") return finish({ kind: "malformed", reason: result.reason, received, ms: ms() });
      finish({
        kind: "response",
        interim: result.interim,
        response: result.response,
        trailing: received.subarray(result.end),
        ms: ms(),
      });
    };

    socket.on("connect", () => {
      connected = true;
      socket.write(bytes);
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      evaluate(false, false);
    });
    socket.on("end", () => evaluate(true, false));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected) return finish({ kind: "connect-error", error: `${error.code ?? ""} ${error.message}`, ms: ms() });
      // EPIPE/ECONNRESET: the server gave up on us. Judge what arrived before it did.
      evaluate(true, true);
    });
    socket.on("close", () => evaluate(true, false));
  });
}

type ParseResult =
  | { state: "incomplete"; waiting: string }
  | { state: "malformed"; reason: string }
  | { state: "complete"; interim: ParsedResponse[]; response: ParsedResponse; end: number };

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

/** Parses interim answers and one final answer from the start of `data`. */
export function parseExchange(
  data: Buffer,
  eof: boolean,
  options: Pick<ExchangeOptions, "noBody" | "connect">,
): ParseResult {
  const interim: ParsedResponse[] = [];
  let offset = 0;
  for (;;) {
    const head = parseHead(data, offset);
    if (head.state !== "complete") return head;
    const { status, headers } = head;
    const base = { version: head.version, status, reason: head.reason, headers };
    // A body without a length runs to the close (RFC 9112 6.3, last rule).
    const closeFramed = (): ParseResult =>
      eof
        ? {
            state: "complete",
            interim,
            response: { ...base, framing: "close", body: data.subarray(head.end) },
            end: data.length,
          }
        : { state: "incomplete", waiting: "the close that ends a body without a length" };
    if (status >= 100 && status < 200 && status !== 101) {
      interim.push({ ...base, framing: "none", body: Buffer.alloc(0) });
      offset = head.end;
      if (offset === data.length && eof)
        return { state: "incomplete", waiting: "a final response after an interim one" };
      continue;
    }
    const values = (name: string) => headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    const transferEncoding = values("transfer-encoding");
    const contentLength = values("content-length");
    const bodiless =
      status === 101 ||
      status === 204 ||
      status === 304 ||
      options.noBody === true ||
      (options.connect === true && status >= 200 && status < 300);
    if (bodiless) {
      if (
        (status === 204 || (status >= 100 && status < 200)) &&
        (transferEncoding.length > 0 || (contentLength.length > 0 && contentLength.some((v) => v.trim() !== "0")))
      ) {
        return {
          state: "malformed",
          reason: `status ${status} with a body length (${[...transferEncoding, ...contentLength].join(", ")})`,
        };
      }
      return {
        state: "complete",
        interim,
        response: { ...base, framing: "none", body: Buffer.alloc(0) },
        end: head.end,
      };
    }
    if (options.noBody === "either" && eof && data.length === head.end) {
      // "head": the server treated it as HEAD and sent the head alone, then closed.
      return {
        state: "complete",
        interim,
        response: { ...base, framing: "none", body: Buffer.alloc(0) },
        end: head.end,
      };
    }
    if (transferEncoding.length > 0 && contentLength.length > 0) {
      return { state: "malformed", reason: "both Transfer-Encoding and Content-Length in a response" };
    }
    if (transferEncoding.length > 0) {
      const codings = transferEncoding
        .join(",")
        .split(",")
        .map((c) => c.trim().toLowerCase());
      if (codings.at(-1) === "chunked") {
        const chunked = parseChunked(data, head.end);
        if (chunked.state !== "complete") return chunked;
        return {
          state: "complete",
          interim,
          response: { ...base, framing: "chunked", body: chunked.body },
          end: chunked.end,
        };
      }
      // Not chunked last: the body runs to the close.
      return closeFramed();
    }
    if (contentLength.length > 0) {
      const distinct = new Set(contentLength.flatMap((v) => v.split(",")).map((v) => v.trim()));
      const [only] = [...distinct];
      if (distinct.size !== 1 || !/^\d{1,15}$/.test(only!)) {
        return { state: "malformed", reason: `bad Content-Length ${JSON.stringify(contentLength)}` };
      }
      const length = Number(only);
      if (data.length - head.end < length)
        return { state: "incomplete", waiting: `${length} body bytes, ${data.length - head.end} so far` };
      const end = head.end + length;
      return {
        state: "complete",
        interim,
        response: { ...base, framing: "content-length", body: data.subarray(head.end, end) },
        end,
      };
    }
    return closeFramed();
  }
}

type HeadResult =
  | { state: "incomplete"; waiting: string }
  | { state: "malformed"; reason: string }
  | { state: "complete"; version: string; status: number; reason: string; headers: [string, string][]; end: number };

function parseHead(data: Buffer, offset: number): HeadResult {
  const endAt = data.indexOf(HEAD_END, offset);
  if (endAt === -1) {
    // Judge what we already have, so a garbage answer is named at once.
    const lineEnd = data.indexOf(CRLF, offset);
    const firstLine = data
      .subarray(offset, lineEnd === -1 ? Math.min(data.length, offset + 64) : lineEnd)
      .toString("latin1");
    if (!"HTTP/1.".startsWith(firstLine.slice(0, 7)) || (lineEnd !== -1 && !STATUS_LINE.test(firstLine))) {
      return { state: "malformed", reason: `not a status line: ${JSON.stringify(firstLine.slice(0, 80))}` };
    }
    if (data.length - offset > 64 * 1024) return { state: "malformed", reason: "response head longer than 64 KiB" };
    return { state: "incomplete", waiting: "the end of the response head" };
  }
  const lines = data.subarray(offset, endAt).toString("latin1").split("\r\n");
  const statusLine = STATUS_LINE.exec(lines[0]!);
  if (!statusLine)
    return { state: "malformed", reason: `not a status line: ${JSON.stringify(lines[0]!.slice(0, 80))}` };
  const status = Number(statusLine[2]);
  if (status < 100 || status > 599) return { state: "malformed", reason: `status ${status} outside 100-599` };
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon === -1 ? "" : line.slice(0, colon);
    if (!TOKEN.test(name))
      return { state: "malformed", reason: `bad header line ${JSON.stringify(line.slice(0, 80))}` };
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value))
      return { state: "malformed", reason: `bad header value in ${JSON.stringify(line.slice(0, 80))}` };
    headers.push([name, value]);
  }
  return {
    state: "complete",
    version: `HTTP/1.${statusLine[1]}`,
    status,
    reason: statusLine[3] ?? "",
    headers,
    end: endAt + 4,
  };
}

type ChunkedResult =
  | { state: "incomplete"; waiting: string }
  | { state: "malformed"; reason: string }
  | { state: "complete"; body: Buffer; end: number };

function parseChunked(data: Buffer, start: number): ChunkedResult {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, offset);
    if (lineEnd === -1) {
      if (data.length - offset > 1024) return { state: "malformed", reason: "chunk size line longer than 1 KiB" };
      return { state: "incomplete", waiting: "a chunk size line" };
    }
    const sizeLine = data.subarray(offset, lineEnd).toString("latin1");
    const match = /^([0-9A-Fa-f]{1,8})[ \t]*(;.*)?$/.exec(sizeLine);
    if (!match) return { state: "malformed", reason: `bad chunk size line ${JSON.stringify(sizeLine.slice(0, 40))}` };
    const size = parseInt(match[1]!, 16);
    offset = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, then an empty line.
      for (;;) {
        const end = data.indexOf(CRLF, offset);
        if (end === -1) return { state: "incomplete", waiting: "the end of the chunked trailers" };
        const line = data.subarray(offset, end).toString("latin1");
        offset = end + 2;
        if (line === "") return { state: "complete", body: Buffer.concat(parts), end: offset };
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:/.test(line))
          return { state: "malformed", reason: `bad trailer line ${JSON.stringify(line.slice(0, 40))}` };
      }
    }
    if (data.length < offset + size + 2) return { state: "incomplete", waiting: `a chunk of ${size} bytes` };
    parts.push(data.subarray(offset, offset + size));
    if (data[offset + size] !== 0x0d || data[offset + size + 1] !== 0x0a)
      return { state: "malformed", reason: "chunk data not followed by CRLF" };
    offset += size + 2;
  }
}
