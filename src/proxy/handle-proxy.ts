import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Backend } from "../shared/backend.ts";
import { errorResponse } from "../shared/error-response.ts";
import { withCookie } from "./affinity/with-cookie.ts";
import { type BodyProgress, BodyTooLarge, type PreparedBody, prepareBody } from "./body.ts";
import { choose } from "./choose.ts";
import { type ForwardResult, forward } from "./forward.ts";
import { BadConnectionHeader } from "./hop-by-hop.ts";
import type { RequestContext } from "./request-context.ts";
import type { RequestTrace, SentWatch } from "./request-trace.ts";
import { isRetryableStatus } from "./retry.ts";
import { type Failure, lastAnswer, moveOn, recordFailure } from "./start-walk.ts";

export type { RequestContext } from "./request-context.ts";

/**
 * Choose, forward, and on failure choose again within the retry policy: a backend that was
 * never reached may always be replaced; after the request may have been sent, only a request
 * that is safe to repeat is retried, only on 502/503/504 or timeout, and only within the budget.
 * Nothing is retried once the response has been handed to the client.
 */
export async function handleProxy(request: Request, pool: PoolRuntime, ctx: RequestContext): Promise<Response> {
  if (ctx.trace && ctx.route !== undefined) ctx.trace.route = ctx.route;
  const choice = await choose(request, pool, ctx);
  if (choice instanceof Response) return choice;
  const { spec } = pool;

  let body: PreparedBody;
  try {
    body = await prepareBody(request, spec.retry.maxReplayBytes, ctx.maxBodyBytes);
  } catch (error) {
    if (error instanceof BodyTooLarge) return tooLarge(ctx.maxBodyBytes, ctx);
    return errorResponse(400, "bad_request", "the request body could not be read", ctx.requestId);
  }

  let backend = await choice.next();
  let failure: Failure | undefined;
  const trace = ctx.trace;
  while (backend) {
    const { result, release } = await attempt(
      backend,
      request,
      body.replayable ?? body.stream,
      body.progress,
      pool,
      ctx,
    );
    if (trace) traceAttempt(trace, body, result);
    if (result.kind === "response" && !isRetryableStatus(result.response.status)) {
      const response = release ? countUntilSent(result.response, request, ctx.sent, release) : result.response;
      const status = response.status;
      pool.passive.record(backend, pool.passive.failsOn(status) ? `status ${status}` : undefined, ctx.defer);
      if (status < 500) pool.budget.earn();
      pool.metrics.response(backend.name, status, result.latencyMs, status >= 500);
      const cookie = await choice.settle(backend);
      if (trace) trace.affinity = choice.sessionOutcome;
      return withCookie(response, cookie);
    }
    failure =
      result.kind === "response"
        ? {
            kind: "status",
            response: result.response,
            reason: `status ${result.response.status}`,
            latencyMs: result.latencyMs,
          }
        : result;
    // A response passed over for a retry is cancelled, never sent: its backend is done with it.
    release?.();
    const clientFault = result.kind !== "response" && clientBroke(request, body.progress, ctx);
    if (clientFault) return clientFault;
    recordFailure(pool, backend, failure, "attempt", ctx);
    if (body.replayable === undefined) break;
    const next = await moveOn(choice, backend, failure, request, pool);
    if (!next) break;
    backend = next;
  }
  return lastAnswer(pool, backend, failure, ctx.requestId);
}

/** The access log's view of the attempt just made (trace.backend is set as it starts). */
function traceAttempt(trace: RequestTrace, body: PreparedBody, result: ForwardResult): void {
  if (result.kind === "response") {
    trace.upstreamMs = result.latencyMs;
    if (result.declaredLength !== undefined) trace.declared(result.response, result.declaredLength);
  } else trace.upstreamMs = undefined;
  trace.bytesIn = body.replayable ? body.replayable.byteLength : (body.progress?.bytes ?? 0);
}

/**
 * A failed attempt whose streamed body did not arrive whole is the client's doing (an aborted
 * or stalled upload, a body over the limit): no backend is blamed, nothing is retried. A client
 * that went away gets nginx's 499, which only the access log sees.
 */
function clientBroke(request: Request, progress: BodyProgress | undefined, ctx: RequestContext): Response | undefined {
  if (progress?.tooLarge) return tooLarge(undefined, ctx);
  if (request.signal.aborted) {
    ctx.trace?.clientGone();
    return errorResponse(499, "client_closed_request", "the client closed the connection first", ctx.requestId);
  }
  if (progress?.broken) return errorResponse(400, "bad_request", "the client broke off the request", ctx.requestId);
  // Still uploading when the attempt timed out: the client stalled, not the backend.
  if (progress && !progress.complete) {
    return errorResponse(408, "request_timeout", "the request body stopped arriving", ctx.requestId);
  }
  return undefined;
}

function tooLarge(limit: number | undefined, ctx: RequestContext): Response {
  return errorResponse(
    413,
    "payload_too_large",
    limit ? `the request body is larger than ${limit} bytes` : "the request body is too large",
    ctx.requestId,
  );
}

async function attempt(
  backend: Backend,
  request: Request,
  body: ArrayBuffer | ReadableStream<Uint8Array> | null,
  progress: BodyProgress | undefined,
  pool: PoolRuntime,
  ctx: RequestContext,
): Promise<Attempted> {
  pool.logRequest?.(`Forwarding request to: ${backend.url}`);
  pool.metrics.attempt(backend.name);
  if (ctx.trace) {
    ctx.trace.attempts++;
    ctx.trace.backend = backend.name;
  }
  const end = pool.state.begin(backend.name, ctx.defer);
  let result: ForwardResult;
  try {
    result = await forward({
      backend,
      request,
      target: ctx.target,
      host: ctx.host,
      body,
      ...(progress ? { progress } : {}),
      client: ctx.client,
      timeoutMs: pool.spec.timeoutMs,
      preserveHost: pool.spec.preserveHost,
      requestId: ctx.requestId,
      fetch: pool.fetch,
    });
  } catch (error) {
    end({});
    if (error instanceof BadConnectionHeader) {
      const response = errorResponse(400, "bad_request", error.message, ctx.requestId);
      return { result: { kind: "response", response, latencyMs: 0 } };
    }
    throw error;
  }
  if (result.kind !== "response") {
    end({});
    return { result };
  }
  if (pool.rotation.algorithm.needs !== "load" || !result.response.body) {
    end({ latencyMs: result.latencyMs });
    return { result };
  }
  let released = false;
  const latencyMs = result.latencyMs;
  const release = () => {
    if (released) return;
    released = true;
    end({ latencyMs });
  };
  return { result, release };
}

/**
 * An attempt's outcome; `release`: a load-aware pool still counts the request in flight, until
 * the response it answered with has been passed on (or passed over for a retry).
 */
interface Attempted {
  readonly result: ForwardResult;
  readonly release?: () => void;
}

/**
 * Counts the request until its response has gone: on the server's word where it gives one (no
 * stream in the body's way, so the runtime keeps its native body pipe), else through the stream.
 */
function countUntilSent(
  response: Response,
  request: Request,
  sent: SentWatch | undefined,
  release: () => void,
): Response {
  // request.signal is read only here: on Node it is an AbortController made on first reading.
  if (!sent) return releaseWhenStreamed(response, request.signal, release);
  sent(release);
  return response;
}

/**
 * Load-aware algorithms count a request until its body has been fully passed on, or until the
 * client goes away. A pull-through stream costs half what a TransformStream with pipeTo does (npm
 * run bench, least-connections). Node, Bun and Deno cancel the stream when the client goes away;
 * workerd drops it without a word, so the client's signal (enable_request_signal) releases it there.
 */
function releaseWhenStreamed(response: Response, client: AbortSignal, release: () => void): Response {
  const reader = response.body!.getReader();
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    client.removeEventListener("abort", onClientGone);
    release();
  };
  const onClientGone = () => {
    done();
    void reader.cancel(client.reason).catch(() => undefined);
  };
  client.addEventListener("abort", onClientGone, { once: true });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
  return new Response(body, response);
}
