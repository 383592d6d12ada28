import { CandidateWalk } from "../balancer/candidate-walk.ts";
import type { SelectionInput } from "../balancer/types.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Backend } from "../shared/backend.ts";
import { errorResponse } from "../shared/error-response.ts";
import type { RequestId } from "../shared/request-id.ts";
import type { Choice } from "./choose.ts";
import type { ForwardResult } from "./forward.ts";
import { hashKeyOf } from "./hash-key.ts";
import type { RequestContext } from "./request-context.ts";
import { mayRepeat } from "./retry.ts";

const CLIENT_IP = { source: "ip" } as const;

/** A failed attempt: a connection-level failure, or a status worth another backend's try. */
export type Failure =
  | Exclude<ForwardResult, { kind: "response" }>
  | { kind: "status"; response: Response; reason: string; latencyMs: number };

/**
 * The part of every request before its first attempt, plain or upgrade: the shared view (awaited
 * only when cold), a due health round, the rotation, and the walk over its candidates. A 503 when
 * no backend takes requests at all.
 */
export async function startWalk(
  request: Request,
  pool: PoolRuntime,
  ctx: RequestContext,
  /** ip_cookie affinity places a new session by ip-hash of the client address instead. */
  byClientIp = false,
): Promise<CandidateWalk | Response> {
  const { spec, state } = pool;
  const snapshot = await state.ready(ctx.defer);
  pool.checker?.maybeRun(ctx.defer);
  const now = Date.now();
  const cache = (byClientIp && pool.ipRotation) || pool.rotation;
  const rotation = cache.current(snapshot, now);
  if (rotation.available === 0) {
    pool.metrics.noBackend++;
    return errorResponse(503, "no_backend", "every backend is disabled or drained", ctx.requestId);
  }
  const needs = cache.algorithm.needs;
  const hashKey = cache === pool.rotation ? spec.hashKey : CLIENT_IP;
  const input: SelectionInput = {
    seq: needs === "sequence" ? await state.nextSeq(rotation.granule) : 0,
    key: needs === "key" ? hashKeyOf(request, hashKey, ctx.client.ip) : "",
    load: state.load,
    random: Math.random,
    now,
  };
  return new CandidateWalk(rotation.selector, input, rotation);
}

/**
 * Whether the failed attempt may be repeated elsewhere. The budget guards against retries
 * adding load to backends that are overloaded (5xx, timeouts); a backend that could not be
 * reached or dropped the connection is not loaded by a retry elsewhere, and is soon ejected.
 */
export function retryPermitted(failure: Failure, request: Request, pool: PoolRuntime): boolean {
  // Nothing reached the backend: trying another one cannot duplicate work.
  if (failure.kind === "unreachable") return true;
  if (!mayRepeat(request)) return false;
  if (failure.kind === "failed") return true;
  return pool.budget.trySpend();
}

/** What the client is told when no attempt succeeded: what happened, never where. */
export function failureResponse(failure: Exclude<Failure, { kind: "status" }>, requestId: RequestId): Response {
  // Backend URLs and system errors are in the log and /_lb/status.
  if (failure.kind === "timeout") {
    return errorResponse(504, "upstream_timeout", "the backend did not answer in time", requestId);
  }
  if (failure.kind === "unreachable") {
    return errorResponse(502, "upstream_unreachable", "no backend could be reached", requestId);
  }
  return errorResponse(502, "upstream_connection_failed", "the backend connection failed before an answer", requestId);
}

/**
 * A failed attempt, as the operator sees it: the log line (backend URL and system error, which
 * clients are not told), the counters, and passive health (which a status counts toward only
 * when the outlier policy says so).
 */
export function recordFailure(
  pool: PoolRuntime,
  backend: Backend,
  failure: Failure,
  what: string,
  ctx: Pick<RequestContext, "defer" | "requestId">,
): void {
  const { defer } = ctx;
  pool.log(`${backend.url}: ${what} failed (${failure.kind}): ${failure.reason} request_id=${ctx.requestId.value}`, {
    event: "attempt_failed",
    backend: backend.name,
    url: backend.url,
    kind: failure.kind,
    reason: failure.reason,
    request_id: ctx.requestId.value,
  });
  pool.metrics.failure(backend.name, failure.kind, failure.reason);
  pool.passive.record(
    backend,
    failure.kind === "status" && !pool.passive.failsOn(failure.response.status) ? undefined : failure.reason,
    defer,
  );
}

/**
 * The backend to try after `failed` failed, or undefined when the request stops here: attempts
 * used up, the session may not move (ZERO_DOWNTIME_FAILOVER=none), no candidate left, or the
 * retry policy refuses. A retried status's body is let go.
 */
export async function moveOn(
  choice: Choice,
  failed: Backend,
  failure: Failure,
  request: Request,
  pool: PoolRuntime,
): Promise<Backend | undefined> {
  if (choice.tried.size >= pool.spec.retry.maxAttempts || !choice.mayMoveOn(failed)) return undefined;
  const next = await choice.next();
  if (!next || !retryPermitted(failure, request, pool)) return undefined;
  if (failure.kind === "status") await failure.response.body?.cancel();
  pool.metrics.retries++;
  return next;
}

/** The answer when the last attempt failed: the backend's own status, or what happened (never where). */
export function lastAnswer(
  pool: PoolRuntime,
  backend: Backend | undefined,
  failure: Failure | undefined,
  requestId: RequestId,
): Response {
  if (!failure || !backend) return errorResponse(503, "no_backend", "no backend is available", requestId);
  if (failure.kind === "status") {
    pool.metrics.response(backend.name, failure.response.status, failure.latencyMs);
    return failure.response;
  }
  return failureResponse(failure, requestId);
}
