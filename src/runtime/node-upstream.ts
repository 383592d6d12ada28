// Node's upstream client: one undici Pool (keep-alive connections, an optional cap) per backend
// origin, driven through undici's dispatch API rather than its fetch. fetch builds a WHATWG
// Request, copies the headers twice and wraps the body in streams per call; the dispatcher takes
// the header list as it is and hands back raw chunks (npm run bench, node-rr-memory against
// node-rr-memory-global-fetch).
import type { Dispatcher } from "undici";
import { Pool } from "undici";
import type { ForwardingFetch, ForwardOptions } from "../proxy/forward.ts";
import { forwardThrough } from "../proxy/forward-through.ts";
import { dropHopByHop, HOP_BY_HOP_NAMES } from "../proxy/hop-by-hop.ts";
import { declaredLength } from "../shared/declared-length.ts";
import type { UpstreamCall, UpstreamFetch, UpstreamRequest } from "../shared/upstream-fetch.ts";

export interface NodeUpstreamOptions {
  /** Most connections open to one backend at once; further requests queue. undefined: no cap. */
  readonly connections: number | undefined;
}

/**
 * A fetch for upstream calls that keeps one connection pool per origin and sends what it is given:
 * the Host header too (preserve_host), which the Fetch standard has fetch drop. Redirects are
 * returned, never followed; repeated response headers (Set-Cookie) stay separate; bodies stream
 * both ways and are never decoded (Content-Encoding passes through as the upstream sent it); the
 * signal aborts the exchange, before or after the headers.
 */
export function nodeUpstream(
  options: NodeUpstreamOptions,
): Required<Pick<ForwardingFetch, "send" | "forward">> & UpstreamFetch {
  const pools = new Map<string, Pool>();
  const dispatch = (url: string, method: string, headers: string[], body: Body, exchange: Exchange): void => {
    // Backend URLs are absolute http(s) URLs without credentials (config), so the origin ends at
    // the first slash after the scheme's.
    const slash = url.indexOf("/", url.indexOf("//") + 2);
    const origin = slash === -1 ? url : url.slice(0, slash);
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, { connections: options.connections ?? null });
      pools.set(origin, pool);
    }
    pool.dispatch(
      {
        origin,
        path: slash === -1 ? "/" : url.slice(slash),
        method: method as Dispatcher.HttpMethod,
        headers,
        // undici iterates any async iterable body (a web stream is one); its types list Readable only.
        body: body as Dispatcher.DispatchOptions["body"],
      },
      exchange,
    );
  };
  // The proxy's way in: the header list as forward.ts built it, aborted through the call.
  const send = (url: string, request: UpstreamRequest): UpstreamCall => {
    const exchange = new Exchange(request.method === "HEAD");
    dispatch(url, request.method, request.headers, requestBody(request.body), exchange);
    return exchange;
  };
  // Everyone else's (health probes): fetch's signature and its signal.
  const fetchLike = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? "GET";
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const exchange = new Exchange(method === "HEAD", signal);
    try {
      const body = requestBody(init?.body);
      dispatch(url, method, headerList(init?.headers, body), body, exchange);
    } catch (error) {
      // As fetch: a bad request rejects, it does not throw.
      exchange.abort(error instanceof Error ? error : new Error(String(error)));
    }
    return exchange.response;
  };
  return Object.assign(fetchLike, { send, forward: (options: ForwardOptions) => forwardThrough(send, options) });
}

type Body = string | Buffer | AsyncIterable<Uint8Array> | null;

function requestBody(body: BodyInit | null | undefined): Body {
  if (body === null || body === undefined) return null;
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ReadableStream) return body as unknown as AsyncIterable<Uint8Array>;
  throw new TypeError("unsupported upstream request body");
}

/**
 * The headers as undici's flat list, framed from the body actually sent: node:http and undici
 * both trust a Content-Length or Transfer-Encoding they are given, so a stale one would make
 * the upstream read the next request from this body (request smuggling), or fail the exchange
 * as the backend's fault.
 */
function headerList(headers: HeadersInit | undefined, body: Body): string[] {
  const list: string[] = [];
  const add = (value: string, name: string) => {
    if (name === "transfer-encoding") return;
    if (name === "content-length" && (body === null || typeof body !== "object" || Buffer.isBuffer(body))) return;
    list.push(name, value);
  };
  if (headers instanceof Headers) headers.forEach(add);
  else if (Array.isArray(headers)) for (const [name, value] of headers) add(value!, name!.toLowerCase());
  else if (headers) for (const name of Object.keys(headers)) add(headers[name]!, name.toLowerCase());
  // undici sends the length of a string or buffer itself; a stream without a declared one goes chunked.
  return list;
}

/**
 * One exchange as a dispatch handler, and the proxy's call (one object a request). The response
 * is handed over a microtask after its head arrives: a small body that came in the same read is
 * then complete and goes as one buffer (one write to the client, with its length); otherwise it
 * streams, reading upstream only as fast as the client takes it. Hop-by-hop response headers are
 * dropped here.
 */
class Exchange implements Dispatcher.DispatchHandler, UpstreamCall {
  readonly response: Promise<Response>;
  declaredLength: number | undefined;
  private resolve!: (response: Response) => void;
  private reject!: (error: unknown) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private statusText = "";
  private headers: Headers | undefined;
  private chunks: Buffer[] = [];
  private ended = false;
  private settled = false;
  private stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** The body is complete, failed or cancelled: the stream takes nothing more. */
  private finished = false;
  /** Why this side ended the exchange (timeout, client gone): what a pending response rejects with. */
  private abortReason: unknown;
  /** Made only for a call with a signal (health probes): the proxy's calls are aborted through abort(). */
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly head: boolean,
    private readonly signal?: AbortSignal,
  ) {
    this.response = new Promise<Response>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (signal) {
      this.onAbort = () => this.abort(signal.reason);
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  /** Ends the exchange: at once if it is on a connection, else as soon as undici starts it. */
  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason ?? new Error("aborted");
    const controller = this.controller;
    if (controller) {
      if (!controller.aborted) controller.abort(asError(this.abortReason));
      return;
    }
    // Still queued for a connection (the pool is at its cap): answer now, abort once it starts.
    this.done();
    this.fail(undefined);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(asError(this.abortReason));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    statusText?: string,
  ): void {
    // Informational answers (103 Early Hints) come before the response: not passed on.
    if (status < 200) return;
    this.status = status;
    this.statusText = statusText ?? "";
    const list = new Headers();
    let hopByHop = false;
    for (const name in headers) {
      const value = headers[name];
      if (HOP_BY_HOP_NAMES.has(name)) hopByHop = true;
      else if (typeof value === "string") list.append(name, value);
      else if (value) for (const item of value) list.append(name, item);
    }
    // The names a Connection header lists are hop-by-hop too.
    const connection = headers["connection"];
    const listed = hopByHop && typeof connection === "string";
    if (listed) {
      list.set("connection", connection);
      dropHopByHop(list, false);
    }
    // From the head as it came, not through Headers.get (a node:http upstream always sends
    // Connection, so that path is the common one); unknown when Connection names either header,
    // which was then dropped above, and the access log reads what is left.
    const length = headers["content-length"];
    const encoding = headers["content-encoding"];
    this.declaredLength =
      listed && CONTENT_FRAMING.test(connection)
        ? undefined
        : declaredLength(
            typeof length === "string" ? length : undefined,
            typeof encoding === "string" ? encoding : encoding?.join(", "),
          );
    this.headers = list;
    queueMicrotask(() => this.settle());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const stream = this.stream;
    if (!stream) {
      this.chunks.push(chunk);
      return;
    }
    if (this.finished) return;
    stream.enqueue(chunk);
    if ((stream.desiredSize ?? 0) <= 0) controller.pause();
  }

  onResponseEnd(): void {
    const finished = this.finished;
    this.done();
    if (!this.stream) this.ended = true;
    else if (!finished) this.stream.close();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const finished = this.finished;
    this.done();
    if (!this.settled) this.fail(error);
    else if (this.stream && !finished) this.stream.error(error);
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    const status = this.status;
    const init = { status, statusText: this.statusText, headers: this.headers! };
    if (this.head || status === 204 || status === 205 || status === 304) {
      this.resolve(new Response(null, init));
      return;
    }
    if (this.ended) {
      const chunks = this.chunks;
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.resolve(new Response(bytes as Uint8Array<ArrayBuffer>, init));
      return;
    }
    const body = new ReadableStream<Uint8Array>({
      start: (stream) => {
        this.stream = stream;
        for (const chunk of this.chunks) stream.enqueue(chunk);
        this.chunks = [];
      },
      pull: () => {
        if (this.controller?.paused) this.controller.resume();
      },
      cancel: (reason) => {
        this.finished = true;
        this.abort(reason ?? new Error("response body cancelled"));
      },
    });
    this.resolve(new Response(body, init));
  }

  /** Rejects the pending response as fetch would: with our abort's reason, else "fetch failed". */
  private fail(cause: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(this.abortReason ?? new TypeError("fetch failed", { cause }));
  }

  /** The exchange is over: the body stream takes no more, the signal is no longer watched. */
  private done(): void {
    this.finished = true;
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
  }
}

/** A Connection header naming Content-Length or Content-Encoding as hop-by-hop. */
const CONTENT_FRAMING = /content-(?:length|encoding)/i;

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
