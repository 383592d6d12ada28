import { HTTPException } from "hono/http-exception";
import { RotationCache } from "../balancer/rotation.ts";
import type { Backend, SelectionInput } from "../balancer/types.ts";
import type { PoolConfig } from "../config.ts";
import type { Defer, PoolState } from "../state/cache.ts";
import { forward, type ForwardResult } from "./forward.ts";
import { hashKeyOf } from "./hash-key.ts";
import { errorResponse } from "./errors.ts";
import { prepareBody } from "./body.ts";

/** Everything one pool needs at request time; built once per instance. */
export interface PoolRuntime {
  readonly config: PoolConfig;
  readonly rotation: RotationCache;
  readonly state: PoolState;
  /** Receives "Forwarding request to: <url>"; undefined when request logging is off. */
  readonly logRequest: ((line: string) => void) | undefined;
  readonly fetch?: typeof fetch;
}

export interface RequestContext {
  readonly clientIp: string | undefined;
  readonly defer: Defer;
}

const USES_SEQUENCE = new Set(["round-robin", "weighted-round-robin"]);
export const LOAD_AWARE = new Set(["least-connections", "least-response-time"]);

/** Choose, forward, and on a connection failure choose again, within the pool's attempt limit. */
export async function handleProxy(request: Request, pool: PoolRuntime, ctx: RequestContext): Promise<Response> {
  const { config, state } = pool;
  const snapshot = await state.ready(ctx.defer);
  const rotation = pool.rotation.current(snapshot);
  if (rotation.available === 0) {
    return errorResponse(503, "no_backend", `every backend of pool ${config.name} is down, drained or disabled`);
  }
  const algorithm = config.algorithm;
  const input: SelectionInput = {
    seq: USES_SEQUENCE.has(algorithm) ? await state.nextSeq(rotation.granule) : 0,
    key: algorithm === "ip-hash" ? hashKeyOf(request, config.hash_key, ctx.clientIp) : "",
    load: state.load,
    random: Math.random,
    now: Date.now(),
  };

  let body;
  try {
    body = await prepareBody(request, config.retry.max_body_bytes);
  } catch (error) {
    return errorResponse(400, "bad_request", `could not read the request body: ${(error as Error).message}`);
  }

  const tried = new Set<string>();
  let failure: Exclude<ForwardResult, { kind: "response" }> | undefined;
  const candidates = rotation.selector.candidates(input)[Symbol.iterator]();
  while (tried.size < config.retry.max_attempts) {
    const backend = nextCandidate(candidates, rotation.unavailable, tried);
    if (!backend) break;
    tried.add(backend.name);
    pool.logRequest?.(`Forwarding request to: ${backend.url}`);
    const end = state.begin(backend.name, ctx.defer);
    let result: ForwardResult;
    try {
      result = await forward({
        backend,
        request,
        body: body.replayable ?? body.stream,
        clientIp: ctx.clientIp,
        timeoutMs: config.timeout_ms,
        preserveHost: config.preserve_host,
        fetch: pool.fetch,
      });
    } catch (error) {
      end({});
      if (error instanceof HTTPException) return errorResponse(error.status, "bad_request", error.message);
      throw error;
    }
    if (result.kind === "response") {
      if (!LOAD_AWARE.has(algorithm) || !result.response.body) {
        end({ latencyMs: result.latencyMs });
        return result.response;
      }
      return releaseWhenStreamed(result.response, () => end({ latencyMs: result.latencyMs }), ctx.defer);
    }
    end({});
    failure = result;
    // Only a request that never reached a backend and can be sent again is safe to retry here.
    if (result.kind !== "unreachable" || body.replayable === undefined) break;
  }

  if (!failure) {
    return errorResponse(503, "no_backend", `no backend of pool ${config.name} is available`);
  }
  if (failure.kind === "timeout") return errorResponse(504, "upstream_timeout", failure.reason);
  return errorResponse(502, failure.kind === "unreachable" ? "upstream_unreachable" : "upstream_failed", failure.reason);
}

function nextCandidate(
  candidates: Iterator<Backend>,
  unavailable: ReadonlySet<string>,
  tried: ReadonlySet<string>,
): Backend | undefined {
  for (let step = candidates.next(); !step.done; step = candidates.next()) {
    const backend = step.value;
    if (!unavailable.has(backend.name) && !tried.has(backend.name)) return backend;
  }
  return undefined;
}

/** Load-aware algorithms count a request until its body has been fully passed on. */
function releaseWhenStreamed(response: Response, release: () => void, defer: Defer): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  defer(response.body!.pipeTo(writable).catch(() => undefined).finally(release));
  return new Response(readable, response);
}
