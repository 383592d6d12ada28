// How long the server runtimes let a client take: header_timeout_ms, idle_timeout_ms and
// max_connections turned into each runtime's own knobs. Pure numbers, so they are unit tested
// apart from the listeners.
import type { Config } from "../config/load-config.ts";

/** Bun.serve rejects an idleTimeout above 255 seconds. */
export const BUN_MAX_SECONDS = 255;

/**
 * Bun.serve's deadline for the request headers: fixed inside Bun (uWebSockets), not an option,
 * and measured at 10-13 s because Bun checks timeouts on a 4-second tick.
 */
export const BUN_HEADER_DEADLINE_MS = 10_000;

/**
 * The longest a request can legitimately wait for response headers once its body is in: every
 * attempt may run to the per-try timeout (timeouts are retried for idempotent requests).
 */
export function upstreamWaitMs(config: Config): number {
  return Math.max(...config.pools.map((pool) => pool.timeout_ms * pool.retry.max_attempts));
}

export interface BunTimeouts {
  /** Bun.serve idleTimeout: a keep-alive connection or an upload with no bytes for this long closes. */
  readonly idleSeconds: number;
  /** server.timeout(request, s) once the request body is in, until the response starts. */
  readonly upstreamSeconds: number;
}

/**
 * Whole seconds, at least 1 (0 would turn the limit off) and at most 255 (Bun's ceiling), so an
 * IDLE_TIMEOUT_MS above 255000 means 255 s on Bun, and an upstream wait past 254 s is cut there.
 * Bun also rounds up to its 4-second tick: 1 s closes after 1-4 s, 60 s after 57-60 s.
 */
export function bunTimeouts(config: Config): BunTimeouts {
  const seconds = (ms: number) => Math.min(BUN_MAX_SECONDS, Math.max(1, Math.ceil(ms / 1000)));
  const idleSeconds = seconds(config.idle_timeout_ms);
  // The extra second covers connecting and the answer's own way back.
  const upstreamSeconds = Math.max(idleSeconds, seconds(upstreamWaitMs(config) + 1000));
  return { idleSeconds, upstreamSeconds };
}

export interface NodeTimeouts {
  readonly headersTimeout: number;
  /**
   * 0: node:http's requestTimeout bounds the whole request, body included, so any value would
   * cut a large upload on a slow but steady link. A stalled upload is closed by the idle rule.
   */
  readonly requestTimeout: 0;
  /**
   * Advertised in Keep-Alive: timeout=N. node:http holds the socket a second longer than this
   * (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER, so a client stops reusing it first), hence a second
   * less than idle_timeout_ms; with 0 the socket keeps idleTimeout, which closes it as well.
   */
  readonly keepAliveTimeout: number;
  /** Socket inactivity that triggers the server's 'timeout' decision (see node.ts). */
  readonly idleTimeout: number;
  /**
   * node:http only checks headersTimeout on this interval (default 30 s), which would let a
   * slow header stream live up to 30 s past its deadline.
   */
  readonly connectionsCheckingInterval: number;
  /** undefined: no cap (max_connections 0). */
  readonly maxConnections: number | undefined;
}

export function nodeTimeouts(config: Config): NodeTimeouts {
  return {
    headersTimeout: config.header_timeout_ms,
    requestTimeout: 0,
    keepAliveTimeout: Math.max(0, config.idle_timeout_ms - 1_000),
    idleTimeout: config.idle_timeout_ms,
    connectionsCheckingInterval: Math.max(25, Math.min(1_000, Math.floor(config.header_timeout_ms / 4))),
    maxConnections: config.max_connections > 0 ? config.max_connections : undefined,
  };
}
