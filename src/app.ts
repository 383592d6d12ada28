import { type Context, type ErrorHandler, Hono } from "hono";
import { mountAdminOnFirstUse } from "./admin/admin-on-first-use.ts";
import { loggingOf } from "./app/logging.ts";
import { poolSpecOf, stateOptionsOf } from "./app/pool-spec.ts";
import { poolsWeighedByLoad, RequestRouting, type Routed, routesOf } from "./app/routing.ts";
import type { Config } from "./config/load-config.ts";
import { createPoolRuntime, type PoolEnvironment, type PoolRuntime } from "./pool/pool-runtime.ts";
import { SessionAffinity } from "./proxy/affinity/session-affinity.ts";
import type { ClientGoneWatch } from "./proxy/forward.ts";
import { handleProxy } from "./proxy/handle-proxy.ts";
import { ALLOWED_METHODS, checkTarget } from "./proxy/request-target.ts";
import { type AccessLog, type BodySent, RequestTrace } from "./proxy/request-trace.ts";
import { isWebSocketUpgrade, type WebSocketConnector } from "./proxy/websocket-connector.ts";
import { WebSocketSessions } from "./proxy/websocket-sessions.ts";
import { locationFromHeaders } from "./routing/geo.ts";
import type { HeaderReader } from "./routing/route-match.ts";
import type { ClientLocation } from "./routing/steering.ts";
import { base64url } from "./shared/base64url.ts";
import type { Defer } from "./shared/defer.ts";
import { errorResponse } from "./shared/error-response.ts";
import { type RequestId, requestIdOf } from "./shared/request-id.ts";
import type { UpstreamFetch } from "./shared/upstream-fetch.ts";
import type { StateStore } from "./state/types.ts";

export interface BalancerOptions {
  readonly store: StateStore;
  /** The client's address as the runtime knows it (socket, CF-Connecting-IP). */
  readonly clientIp: (c: Context) => string | undefined;
  /**
   * The scheme the client used. Default: the request URL's, which is right on Workers (the edge
   * terminated the client's connection); server runtimes pass the socket's (or a trusted proxy's).
   */
  readonly clientProto?: (c: Context) => "http" | "https";
  /** Whether the peer is a configured trusted proxy (its Forwarded / X-Real-IP are kept). */
  readonly trustsPeer?: (c: Context) => boolean;
  /** Where the runtime tells more cheaply than request.signal that the client went away (ClientConnection.watchGone). */
  readonly watchClientGone?: (c: Context) => ClientGoneWatch | undefined;
  /**
   * Where the client is, for geo and proximity steering: request.cf on Workers. Default: the
   * location headers (CF-IPCountry, ...) of a trusted peer, nothing from anyone else.
   */
  readonly clientLocation?: (c: Context) => ClientLocation;
  /** Names this instance in shared state; random by default. */
  readonly instance?: string;
  /** Workers: background work goes to ctx.waitUntil so it outlives the response. */
  readonly waitUntil?: boolean;
  /** Replaces the global fetch for upstream calls (tests, custom agents). */
  readonly fetch?: UpstreamFetch;
  /** Where request and state lines go (LOG_FORMAT=text); console.log by default. */
  readonly log?: (line: string) => void;
  /** Where LOG_FORMAT=json's objects go; console.log(object) by default (Workers Logs). */
  readonly logRecord?: (record: object) => void;
  /** The JSON access log, if not a record to logRecord per request (servers: lines written in batches). */
  readonly logAccess?: AccessLog;
  /**
   * How this runtime carries a WebSocket upgrade for this request (its server and socket are in
   * c.env). Without one, an upgrade is forwarded as a plain request.
   */
  readonly webSockets?: (c: Context) => WebSocketConnector | undefined;
  /**
   * What the server can tell of this request's response body (request-trace.ts): a watch told
   * once it has gone, whole or broken off (Node: the response's 'close'; Deno:
   * ServeHandlerInfo.completed), or "unobserved" where the runtime streams it on its own after
   * the handler returns (Workers, Bun). Either way the JSON access log leaves a body of declared
   * length to the runtime rather than count it through a stream, which costs the runtime its
   * native body pipe.
   */
  readonly responseSent?: (c: Context) => BodySent | undefined;
  /**
   * Where header routes read request headers when the runtime has something cheaper than
   * request.headers.get, which in undici validates the name character by character and converts
   * it through WebIDL on every call (npm run bench, routing's cost in instructions).
   */
  readonly routingHeaders?: (c: Context) => HeaderReader | undefined;
}

export interface Balancer {
  readonly app: Hono;
  readonly pools: readonly PoolRuntime[];
  readonly routing: RequestRouting;
  readonly fetch: Hono["fetch"];
  /**
   * Runs each pool's active checks if no instance ran them within the interval (Cron Triggers,
   * timers). Resolves to the number of pools this call checked.
   */
  runHealthChecks(defer: Defer): Promise<number>;
  /** Publishes this instance's counters a last time (graceful shutdown). */
  flush(): Promise<void>;
  /** This instance's open WebSockets (graceful shutdown closes them with 1001). */
  readonly webSockets: WebSocketSessions;
}

/** The whole balancer as one web-standard fetch handler; runtimes only adapt I/O around it. */
export function createBalancer(config: Config, options: BalancerOptions): Balancer {
  const instance = options.instance ?? crypto.randomUUID();
  const { log, forwarding, access } = loggingOf(config, {
    line: options.log,
    record: options.logRecord,
    access: options.logAccess,
  });
  const environment: PoolEnvironment = {
    store: options.store,
    instance,
    state: { ...stateOptionsOf(config), boundedBackground: options.waitUntil === true },
    log,
    logRequests: forwarding,
    fetch: options.fetch,
  };
  const routes = routesOf(config);
  const weighedByLoad = poolsWeighedByLoad(routes);
  const pools = config.pools.map((pool) =>
    createPoolRuntime(poolSpecOf(pool, weighedByLoad.has(pool.name)), environment),
  );
  const affinities = sessionAffinitiesOf(pools, config, log);
  const routing = new RequestRouting(routes, pools, log);

  const idHeader = config.request_id_header;
  /** The balancer's and the admin routes' (admin-on-first-use.ts) answer to anything unexpected. */
  const onError: ErrorHandler = (error, c) => {
    // The detail is for the operator; a client learns only that something broke.
    const requestId = { header: idHeader, value: requestIdOf(c.req.raw.headers.get(idHeader)) };
    console.error(`edge-lb: unexpected error (request_id=${requestId.value})`, error);
    return errorResponse(500, "internal_error", "the balancer failed to handle the request", requestId);
  };
  // Asking Hono for an execution context that is not there throws: decide once, not per request.
  const deferOf = options.waitUntil ? waitUntilOf : () => runOn;
  const app = new Hono();
  app.get("/_lb/healthz", (c) => c.json({ ok: true }));
  // Everything else under /_lb is the balancer's own (never proxied): sign-in, dashboard, API.
  mountAdminOnFirstUse(
    app,
    {
      token: config.admin_token,
      sessionTtlS: config.admin_session_ttl_s,
      cookieSecure: config.admin_cookie_secure,
      clientIp: options.clientIp,
      instance,
      pools,
      drainSeconds: config.drain_seconds,
      routing,
    },
    onError,
  );
  const limits = { maxUrlBytes: config.max_url_bytes, maxHeaderBytes: config.max_header_bytes };
  const clientProto = options.clientProto ?? urlProto;
  const webSockets = new WebSocketSessions();
  const trustsPeer = options.trustsPeer ?? (() => false);
  const watchClientGone = options.watchClientGone;
  const locationHeaders = config.location_headers;
  const clientLocation =
    options.clientLocation ??
    ((c: Context) => (trustsPeer(c) ? locationFromHeaders(c.req.raw.headers, locationHeaders) : {}));

  /** After routing: the pool's proxy (or upgrade), its access record written once the body is passed on. */
  const forwardTo = (
    c: Context,
    checked: { readonly host: string },
    defer: Defer,
    requestId: RequestId,
    clientIp: string | undefined,
    trace: RequestTrace | undefined,
    routed: Routed | undefined,
  ): Response | Promise<Response> => {
    const request = c.req.raw;
    if (!routed) {
      const missed = errorResponse(
        404,
        "no_route",
        "no route matches this request's host, path, method and headers",
        requestId,
      );
      return trace ? trace.finish(missed, request) : missed;
    }
    const { pool } = routed;
    const affinity = affinities.get(pool);
    if (trace) trace.pool = pool.spec.name;
    // Asked for only where someone waits on it: the access record, or a load-aware pool's count.
    const sent = trace || pool.rotation.algorithm.needs === "load" ? options.responseSent?.(c) : undefined;
    const context = {
      client: { ip: clientIp, proto: clientProto(c), trustedPeer: trustsPeer(c), watchGone: watchClientGone?.(c) },
      target: routed.target,
      host: checked.host,
      maxBodyBytes: config.max_request_body_bytes,
      defer,
      route: routed.route,
      requestId,
      // Present and undefined rather than spread in: one shape, and no object copied per request.
      affinity,
      trace,
      sent: typeof sent === "function" ? sent : undefined,
    };
    const connector = isWebSocketUpgrade(request) ? options.webSockets?.(c) : undefined;
    // The upgrade path is imported by the first upgrade, not at start (a Worker's entry module
    // holds what plain requests need: scripts/build-worker.ts); later ones find it loaded.
    const answer = connector
      ? import("./proxy/handle-upgrade.ts").then(({ handleUpgrade }) =>
          handleUpgrade(request, pool, {
            ...context,
            connector,
            sessions: webSockets,
            idleTimeoutMs: config.websocket_idle_timeout_ms,
          }),
        )
      : handleProxy(request, pool, context);
    // The record is written once the body has been passed on (a WebSocket's when it closes).
    if (!trace) return answer;
    return answer.then((response) => trace.finish(response, request, sent));
  };

  app.all("*", (c): Response | Promise<Response> => {
    const request = c.req.raw;
    const requestId = { header: idHeader, value: requestIdOf(request.headers.get(idHeader)) };
    const clientIp = options.clientIp(c);
    const checked = checkTarget(request, limits);
    const trace = access
      ? new RequestTrace(
          access,
          requestId.value,
          request.method,
          checked.ok ? checked.host : "",
          checked.ok ? checked.target : "",
          clientIp,
        )
      : undefined;
    if (!checked.ok) {
      const refused = errorResponse(checked.status, checked.error, checked.reason, requestId);
      if (checked.status === 405) refused.headers.set("allow", ALLOWED_METHODS);
      return trace ? trace.finish(refused, request) : refused;
    }
    const defer = deferOf(c);
    const routed = routing.resolve({
      method: request.method,
      host: checked.host,
      target: checked.target,
      headers: options.routingHeaders?.(c) ?? request.headers,
      client: c,
      locate: clientLocation,
      defer,
    });
    // Routing is synchronous once every pool of the route has a view: no extra await then.
    return routed instanceof Promise
      ? routed.then((r) => forwardTo(c, checked, defer, requestId, clientIp, trace, r))
      : forwardTo(c, checked, defer, requestId, clientIp, trace, routed);
  });
  app.onError(onError);
  const runHealthChecks = async (defer: Defer) => {
    const ran = await Promise.all(pools.map((p) => p.checker?.runIfDue(defer) ?? false));
    return ran.filter(Boolean).length;
  };
  const flush = async () => {
    await Promise.all(pools.map((p) => p.state.flush()));
  };
  return { app, pools, routing, fetch: app.fetch, runHealthChecks, flush, webSockets };
}

/**
 * Each pool's session affinity, for the pools that have one. Cookie modes sign with
 * AFFINITY_SECRET; without one (allowed with the memory store only: the schema refuses a shared
 * store without it) a key is made now, and cookies stop matching when this process restarts,
 * which the log says.
 */
function sessionAffinitiesOf(pools: readonly PoolRuntime[], config: Config, log: (line: string) => void) {
  const affinities = new Map<PoolRuntime, SessionAffinity>();
  let secret = config.affinity_secret;
  for (const pool of pools) {
    const spec = pool.spec.affinity;
    if (!spec) continue;
    if (!secret && spec.mode !== "header") {
      secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
      log(
        "AFFINITY_SECRET is not set: affinity cookies are signed with a key made at start, so they stop matching when this process restarts",
      );
    }
    affinities.set(pool, new SessionAffinity(spec, secret ?? "", pool.state));
  }
  return affinities;
}

function urlProto(c: Context): "http" | "https" {
  return c.req.url.startsWith("https:") ? "https" : "http";
}

/** Node, Bun, Deno: background work simply runs on. */
const runOn: Defer = (work) => void work.catch(() => undefined);

function waitUntilOf(c: Context): Defer {
  const ctx = c.executionCtx;
  return (work) => ctx.waitUntil(work.catch(() => undefined));
}
