import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { type Backend, upstreamUrl } from "../shared/backend.ts";
import { errorResponse } from "../shared/error-response.ts";
import { choose } from "./choose.ts";
import { forwardingHeaders, withRequestId } from "./forward.ts";
import { BadConnectionHeader } from "./hop-by-hop.ts";
import type { RequestContext } from "./request-context.ts";
import { isRetryableStatus } from "./retry.ts";
import { type Failure, lastAnswer, moveOn, recordFailure } from "./start-walk.ts";
import { type Handshake, offeredProtocols, type WebSocketConnector } from "./websocket-connector.ts";
import type { WebSocketSessions } from "./websocket-sessions.ts";

export interface UpgradeContext extends RequestContext {
  readonly connector: WebSocketConnector;
  readonly sessions: WebSocketSessions;
  /** WEBSOCKET_IDLE_TIMEOUT_MS; 0 = none. */
  readonly idleTimeoutMs: number;
}

/**
 * A WebSocket upgrade through the same selection, health and shared state as any request: the
 * pool's algorithm picks the backend; one that cannot be reached or fails before answering is
 * replaced like any unreached request; a non-101 answer goes to the client as it is. Once the
 * backend has answered 101 nothing is retried, and the WebSocket counts as one request in
 * flight on its backend until it closes (least connections sees it on every instance).
 */
export async function handleUpgrade(request: Request, pool: PoolRuntime, ctx: UpgradeContext): Promise<Response> {
  if (ctx.trace && ctx.route !== undefined) ctx.trace.route = ctx.route;
  const choice = await choose(request, pool, ctx);
  if (choice instanceof Response) return choice;
  let headers: Headers;
  try {
    headers = upgradeHeaders(request, pool, ctx);
  } catch (error) {
    if (error instanceof BadConnectionHeader) return errorResponse(400, "bad_request", error.message, ctx.requestId);
    throw error;
  }
  const protocols = offeredProtocols(request.headers);

  let backend = await choice.next();
  let failure: Failure | undefined;
  const trace = ctx.trace;
  while (backend) {
    pool.logRequest?.(`Forwarding request to: ${backend.url}`);
    pool.metrics.attempt(backend.name);
    if (trace) {
      trace.attempts++;
      trace.backend = backend.name;
      trace.upstreamMs = undefined;
    }
    const end = pool.state.begin(backend.name, ctx.defer);
    const handshake = await ctx.connector.connect({
      url: upstreamUrl(backend, ctx.target),
      headers,
      protocols,
      timeoutMs: pool.spec.timeoutMs,
    });
    if (trace && "latencyMs" in handshake) trace.upstreamMs = handshake.latencyMs;
    if (handshake.kind === "upgraded") {
      const cookie = await choice.settle(backend);
      if (trace) trace.affinity = choice.sessionOutcome;
      return accepted(handshake, backend, pool, ctx, end, cookie);
    }
    if (handshake.kind === "response" && !isRetryableStatus(handshake.response.status)) {
      end({ latencyMs: handshake.latencyMs });
      const status = handshake.response.status;
      pool.passive.record(backend, pool.passive.failsOn(status) ? `status ${status}` : undefined, ctx.defer);
      pool.metrics.response(backend.name, status, handshake.latencyMs, status >= 500);
      return withRequestId(handshake.response, ctx.requestId);
    }
    end({});
    failure = failureOf(handshake);
    recordFailure(pool, backend, failure, "upgrade", ctx);
    const next = await moveOn(choice, backend, failure, request, pool);
    if (!next) break;
    backend = next;
  }
  return withRequestId(lastAnswer(pool, backend, failure, ctx.requestId), ctx.requestId);
}

function accepted(
  handshake: Extract<Handshake, { kind: "upgraded" }>,
  backend: Backend,
  pool: PoolRuntime,
  ctx: UpgradeContext,
  end: (outcome: { latencyMs?: number }) => void,
  /** Session affinity's Set-Cookie, set on the 101. */
  cookie: string | undefined,
): Response {
  pool.passive.record(backend, undefined, ctx.defer);
  pool.budget.earn();
  pool.metrics.response(backend.name, 101, handshake.latencyMs);
  let closed = false;
  let leave: (() => void) | undefined;
  const { response, tunnel } = handshake.accept({
    idleTimeoutMs: ctx.idleTimeoutMs,
    headers: cookie
      ? [
          [ctx.requestId.header, ctx.requestId.value],
          ["set-cookie", cookie],
        ]
      : [[ctx.requestId.header, ctx.requestId.value]],
    onClosed: () => {
      if (closed) return;
      closed = true;
      leave?.();
      end({ latencyMs: handshake.latencyMs });
      // The access record of a WebSocket is written when it closes (frames are not counted).
      ctx.trace?.end(false, 101);
    },
  });
  // A runtime that could not take the client's side closes the tunnel before it is added.
  if (!closed) leave = ctx.sessions.add(tunnel);
  return response;
}

function failureOf(handshake: Exclude<Handshake, { kind: "upgraded" }>): Failure {
  if (handshake.kind !== "response") return handshake;
  return {
    kind: "status",
    response: handshake.response,
    reason: `status ${handshake.response.status}`,
    latencyMs: handshake.latencyMs,
  };
}

/**
 * The forwarding headers of any request (hop-by-hop ones dropped, X-Forwarded-* set) with the
 * upgrade put back: Upgrade and Connection are hop-by-hop, but this hop asks for the same upgrade.
 */
function upgradeHeaders(request: Request, pool: PoolRuntime, ctx: RequestContext): Headers {
  const headers = forwardingHeaders(request, {
    host: ctx.host,
    client: ctx.client,
    preserveHost: pool.spec.preserveHost,
    requestId: ctx.requestId,
  });
  headers.set("connection", "Upgrade");
  headers.set("upgrade", "websocket");
  return headers;
}
