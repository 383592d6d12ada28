import { type Backend, upstreamUrl } from "../shared/backend.ts";
import type { RequestId } from "../shared/request-id.ts";
import type { UpstreamFetch } from "../shared/upstream-fetch.ts";
import type { BodyProgress } from "./body.ts";
import { forwardingHeaders } from "./forwarding-headers.ts";
import { carriesHopByHop, dropHopByHop } from "./hop-by-hop.ts";

/**
 * An upstream client that may make the proxy's attempt itself: Node's node-upstream.ts carries
 * the attempt over its `send` (forward-through.ts) as `forward`, so that the Worker, whose fetch
 * has neither, does not load that path.
 */
export type ForwardingFetch = UpstreamFetch & {
  readonly forward?: (options: ForwardOptions) => Promise<ForwardResult>;
};

export interface ForwardOptions {
  readonly backend: Backend;
  /** The client's request: method, headers and signal are read from it. */
  readonly request: Request;
  /** The canonical path and query (request-target.ts), appended to the backend's URL. */
  readonly target: string;
  /** The host the client addressed, canonical (request-target.ts): X-Forwarded-Host, preserve_host. */
  readonly host: string;
  /** Replayable buffered body, the client's stream (one attempt only), or none. */
  readonly body: ArrayBuffer | ReadableStream<Uint8Array> | null;
  /** A streamed body's progress: each chunk restarts the timeout (an upload is not idleness). */
  readonly progress?: BodyProgress;
  readonly client: ClientConnection;
  readonly timeoutMs: number;
  readonly preserveHost: boolean;
  /** Sent upstream and set on the response. */
  readonly requestId: RequestId;
  readonly fetch?: ForwardingFetch;
}

/** What the runtime knows of the client's connection. */
export interface ClientConnection {
  readonly ip: string | undefined;
  /** The scheme the client used: the socket's, or a trusted proxy's X-Forwarded-Proto. */
  readonly proto: "http" | "https";
  /** The peer is a configured trusted proxy: its Forwarded and X-Real-IP are kept. */
  readonly trustedPeer: boolean;
  /**
   * Where the runtime can tell more cheaply than request.signal (Node: the ServerResponse's
   * close): calls `listener` once if the client's connection closes, and returns the way to stop.
   */
  readonly watchGone?: ClientGoneWatch;
}

export type ClientGoneWatch = (listener: () => void) => () => void;

export type ForwardResult =
  | {
      readonly kind: "response";
      readonly response: Response;
      readonly latencyMs: number;
      /** The body's declared length where the upstream client read it off the head (UpstreamCall). */
      readonly declaredLength?: number | undefined;
    }
  /** The backend could not be reached: nothing was sent, any request may go elsewhere. */
  | { readonly kind: "unreachable"; readonly reason: string }
  /** No response headers within the per-try timeout. */
  | { readonly kind: "timeout"; readonly reason: string }
  /**
   * A connection-level failure after the request may have reached the backend (a reset, or
   * workerd's "Network connection lost", which it reports for refused connections too).
   */
  | { readonly kind: "failed"; readonly reason: string };

export { forwardingHeaders } from "./forwarding-headers.ts";

/**
 * One attempt against one backend. hono/proxy's semantics (hop-by-hop headers dropped both ways,
 * Connection-listed ones too), written out here because its extra Request per attempt cost a
 * third of the balancer's CPU on Node (npm run bench; an AbortSignal per Request is costly there).
 */
export async function forward(options: ForwardOptions): Promise<ForwardResult> {
  const upstream = options.fetch;
  return upstream?.forward ? upstream.forward(options) : forwardWithFetch(upstream ?? fetch, options);
}

/** Per-try timeout: `expire` after timeoutMs, restarted by each chunk of a streamed upload. */
export function startTimer(options: ForwardOptions, expire: () => void): () => void {
  let timer = setTimeout(expire, options.timeoutMs);
  const progress = options.progress;
  if (progress) {
    progress.onChunk = () => {
      clearTimeout(timer);
      timer = setTimeout(expire, options.timeoutMs);
    };
  }
  return () => {
    clearTimeout(timer);
    if (progress) progress.onChunk = undefined;
  };
}

async function forwardWithFetch(upstreamFetch: typeof fetch, options: ForwardOptions): Promise<ForwardResult> {
  const { backend, request } = options;
  const target = upstreamUrl(backend, options.target);
  // Outside the try: a malformed Connection header is the client's error (400), not the backend's.
  const headers = forwardingHeaders(request, options);
  const controller = new AbortController();
  let timedOut = false;
  const stopTimer = startTimer(options, () => {
    timedOut = true;
    controller.abort(new Error("upstream timeout"));
  });
  // A client that goes away cancels the upstream exchange too (a listener is much cheaper than
  // AbortSignal.any on Node).
  const onClientAbort = () => controller.abort(request.signal.reason);
  if (request.signal.aborted) onClientAbort();
  else request.signal.addEventListener("abort", onClientAbort, { once: true });
  const started = performance.now();
  try {
    const upstream = await upstreamFetch(target, {
      method: request.method,
      headers,
      body: options.body,
      signal: controller.signal,
      redirect: "manual",
      // Node's fetch needs this to stream a request body.
      ...(options.body instanceof ReadableStream ? { duplex: "half" } : {}),
    } as RequestInit);
    return {
      kind: "response",
      response: clientResponse(upstream, options.requestId),
      latencyMs: performance.now() - started,
    };
  } catch (error) {
    if (timedOut) return { kind: "timeout", reason: `no response within ${options.timeoutMs} ms` };
    return classifyFailure(error);
  } finally {
    stopTimer();
    // Left attached, the listener keeps every request alive through the signal's registry
    // (measured on Node: about 12 KB per request, never freed). After the headers, a client
    // that goes away cancels the body stream, and that cancels the upstream body.
    request.signal.removeEventListener("abort", onClientAbort);
  }
}

/**
 * An upstream's answer as it may go to the client, with the request's id. fetch's responses have
 * immutable headers, so this is a copy; on Node, Bun and Deno, which keep Connection and
 * Keep-Alive, the same copy drops the hop-by-hop headers (workerd has stripped them already).
 */
export function clientResponse(upstream: Response, requestId?: RequestId): Response {
  const headers = carriesHopByHop(upstream.headers) ? responseHeaders(upstream.headers) : new Headers(upstream.headers);
  if (requestId) headers.set(requestId.header, requestId.value);
  return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** `response` with the request's id set: in place where its headers allow it, else on a copy. */
export function withRequestId(response: Response, requestId: RequestId): Response {
  try {
    response.headers.set(requestId.header, requestId.value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set(requestId.header, requestId.value);
    return copy;
  }
}

/**
 * fetch has already decoded any Content-Encoding, so the header (and the length it implied)
 * must not reach the client (as hono/proxy does).
 */
function responseHeaders(upstream: Headers): Headers {
  const headers = dropHopByHop(new Headers(upstream), false);
  if (headers.has("content-encoding")) {
    headers.delete("content-encoding");
    headers.delete("content-length");
  }
  return headers;
}

/**
 * Connection-level failures that mean the request never reached the backend: undici reports
 * them as error.cause.code, workerd in the message.
 */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const UNREACHABLE_TEXT = /ECONNREFUSED|connection refused|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|DNS lookup failed/i;

function isUnreachable(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } })?.cause;
  if (cause?.code && UNREACHABLE_CODES.has(cause.code)) return true;
  // node:http puts the code on the error itself.
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && UNREACHABLE_CODES.has(code)) return true;
  return UNREACHABLE_TEXT.test(describe(error));
}

/** A connection-level error (undici's, workerd's or node:http's) as an unreached or a failed attempt. */
export function classifyFailure(error: unknown): { kind: "unreachable" | "failed"; reason: string } {
  return { kind: isUnreachable(error) ? "unreachable" : "failed", reason: describe(error) };
}

function describe(error: unknown): string {
  const base = error instanceof Error ? error.message : String(error);
  const cause = (error as { cause?: unknown })?.cause;
  if (cause instanceof Error) return `${base} (${(cause as { code?: string }).code ?? cause.message})`;
  return base;
}
