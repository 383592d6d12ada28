import { proxy } from "hono/proxy";
import type { Backend } from "../balancer/types.ts";

export interface ForwardOptions {
  readonly backend: Backend;
  /** The client's request: method, URL, headers and signal are read from it. */
  readonly request: Request;
  /** Replayable buffered body, the client's stream (one attempt only), or none. */
  readonly body: ArrayBuffer | ReadableStream<Uint8Array> | null;
  readonly clientIp: string | undefined;
  readonly timeoutMs: number;
  readonly preserveHost: boolean;
  readonly fetch?: typeof fetch;
}

export type ForwardResult =
  | { readonly kind: "response"; readonly response: Response; readonly latencyMs: number }
  /** The backend could not be reached: nothing was sent, any request may go elsewhere. */
  | { readonly kind: "unreachable"; readonly reason: string }
  /** No response headers within the per-try timeout. */
  | { readonly kind: "timeout"; readonly reason: string }
  /**
   * A connection-level failure after the request may have reached the backend (a reset, or
   * workerd's "Network connection lost", which it reports for refused connections too).
   */
  | { readonly kind: "failed"; readonly reason: string };

/**
 * The upstream URL is the backend's URL plus the request's path and query as raw text: nothing
 * in the client's request can change which host is contacted (DESIGN: what a request can never do).
 */
export function upstreamUrl(backend: Backend, requestUrl: string): string {
  const pathStart = requestUrl.indexOf("/", requestUrl.indexOf("://") + 3);
  return backend.url + (pathStart === -1 ? "/" : requestUrl.slice(pathStart));
}

/** One attempt against one backend, with hono/proxy's hop-by-hop handling. */
export async function forward(options: ForwardOptions): Promise<ForwardResult> {
  const { backend, request } = options;
  const target = upstreamUrl(backend, request.url);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error("upstream timeout"));
  }, options.timeoutMs);
  // A client that goes away cancels the upstream exchange too (a listener is much cheaper than
  // AbortSignal.any on Node).
  if (request.signal.aborted) controller.abort(request.signal.reason);
  else request.signal.addEventListener("abort", () => controller.abort(request.signal.reason), { once: true });
  const signal = controller.signal;
  const started = performance.now();
  try {
    const upstreamFetch = options.fetch ?? fetch;
    const response = await proxy(target, {
      raw: request,
      strictConnectionProcessing: true,
      body: options.body,
      signal,
      redirect: "manual",
      // hono/proxy has already dropped hop-by-hop and Connection-listed headers from req.
      customFetch: (req: Request) => upstreamFetch(addForwardingHeaders(req, request, options)),
    } as Parameters<typeof proxy>[1]);
    return { kind: "response", response, latencyMs: performance.now() - started };
  } catch (error) {
    if (timedOut) return { kind: "timeout", reason: `no response from ${backend.url} within ${options.timeoutMs} ms` };
    if (isUnreachable(error)) return { kind: "unreachable", reason: `${backend.url}: ${describe(error)}` };
    return { kind: "failed", reason: `${backend.url}: ${describe(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

function addForwardingHeaders(upstream: Request, client: Request, options: ForwardOptions): Request {
  const headers = upstream.headers;
  // The URL's host, not the Host header: on Workers they can differ and the URL is what the
  // client addressed; on Node the URL is built from the Host header anyway.
  const host = hostOf(client.url);
  if (options.clientIp) {
    const prior = client.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior ? `${prior}, ${options.clientIp}` : options.clientIp);
  }
  headers.set("x-forwarded-proto", client.url.startsWith("https:") ? "https" : "http");
  headers.set("x-forwarded-host", host);
  // The balancer answers Expect: 100-continue itself (the client's body arrives either way);
  // Node's fetch refuses to send it.
  headers.delete("expect");
  if (options.preserveHost) headers.set("host", host);
  else headers.delete("host");
  return upstream;
}

function hostOf(url: string): string {
  const start = url.indexOf("://") + 3;
  const end = url.indexOf("/", start);
  return url.slice(start, end === -1 ? undefined : end);
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
  return UNREACHABLE_TEXT.test(describe(error));
}

function describe(error: unknown): string {
  const base = error instanceof Error ? error.message : String(error);
  const cause = (error as { cause?: unknown })?.cause;
  if (cause instanceof Error) return `${base} (${(cause as { code?: string }).code ?? cause.message})`;
  return base;
}
