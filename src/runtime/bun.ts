// Bun entry point: `npm run lb:bun -- --backends=URL,URL --port=3000`, the same flags and
// start-up lines as the Node CLI. Bun runs the TypeScript sources as they are.
import process from "node:process";
import { getConnInfo } from "hono/bun";
import { type BunUpgrader, bunConnector, bunWebSocketHandlers } from "./bun-websocket.ts";
import { goLog } from "./cli.ts";
import { closeWebSockets } from "./close-web-sockets.ts";
import { writeAllSync, writeTextAsync } from "./fd-write.ts";
import { BatchedWriter, flushThen, useLineWriter } from "./log-writer.ts";
import { fail, prepareServer } from "./server.ts";
import { installShutdown } from "./shutdown.ts";
import { BUN_HEADER_DEADLINE_MS, bunTimeouts } from "./slow-clients.ts";

/** The little of Bun's API used here (no @types/bun in this project). */
interface BunServer extends BunUpgrader {
  readonly port: number;
  requestIP(request: Request): { address: string; family: string; port: number } | null;
  /**
   * This request's connection gets `seconds` of silence (no byte either way) instead of
   * idleTimeout, until it is set again; 0 turns the limit off.
   */
  timeout(request: Request, seconds: number): void;
  stop(closeActiveConnections?: boolean): Promise<void>;
}
interface BunServeOptions {
  port: number;
  hostname: string;
  /**
   * Seconds a connection may sit without traffic, 1-255; 0 turns the limit off. It also runs
   * while a request waits for its handler: Bun closes a connection whose response is pending.
   */
  idleTimeout: number;
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
  websocket: typeof bunWebSocketHandlers;
}
declare const Bun: {
  serve(options: BunServeOptions): BunServer;
};

async function main(): Promise<void> {
  useLineWriter(new BatchedWriter(writeTextAsync(1), writeAllSync), "at-end");
  // Assigned before the first request arrives, which is when webSockets below first reads it.
  let server!: BunServer;
  const { settings, balancer, announce, stopBackground } = await prepareServer(process.argv.slice(2), {
    // Hono's own reading of Bun's peer address (c.env.server.requestIP); see envFor below.
    peerAddress: (c) => getConnInfo(c).remote.address,
    // Bun upgrades the Request it created, not the one whose body is watched (fetchWithinLimits).
    webSockets: (c) => bunConnector(server, originals.get(c.req.raw) ?? c.req.raw),
    // Bun streams a passed-on body natively and reports no end (no per-request hook; its
    // request.signal fires only on a client going away): counting it through a JavaScript
    // stream cost ~80 µs of CPU a request in the bench, so a declared-length body's access
    // record is written at hand-over, as on Workers (request-trace.ts).
    responseSent: () => "unobserved",
  });
  const { port, host } = settings;
  const { idleSeconds, upstreamSeconds } = bunTimeouts(settings.config);
  try {
    server = Bun.serve({
      port,
      hostname: host,
      idleTimeout: idleSeconds,
      fetch: (request, bunServer) =>
        fetchWithinLimits(
          request,
          bunServer,
          (forwarded) => balancer.fetch(forwarded, envFor(bunServer)),
          idleSeconds,
          upstreamSeconds,
        ),
      websocket: bunWebSocketHandlers,
    });
  } catch (error) {
    fail(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  announce(server.port);
  if (settings.config.header_timeout_ms !== BUN_HEADER_DEADLINE_MS) {
    goLog(
      `HEADER_TIMEOUT_MS does not apply on Bun: Bun.serve allows a fixed ${BUN_HEADER_DEADLINE_MS / 1000} s for request headers`,
    );
  }

  installShutdown({
    onSignal: (signal, handler) => process.on(signal, handler),
    // stop(false): stop listening, let requests in flight finish; resolves when they have, open
    // WebSockets included (measured on 1.4.5), so those have the whole grace period too.
    drain: () => server.stop(false),
    // installShutdown gives this 1 s: the WebSockets' 1001 first, then the connections left.
    forceClose: async () => {
      await closeWebSockets(balancer.webSockets, 700);
      await server.stop(true);
    },
    flush: () => balancer.flush(),
    stopBackground,
    timeoutMs: settings.shutdownTimeoutMs,
    log: goLog,
    exit: (code) => flushThen(() => process.exit(code)),
  });
}

const originals = new WeakMap<Request, Request>();

/**
 * What handlers see as c.env: Hono's getConnInfo asks c.env.server.requestIP for the peer, and
 * Bun knows only the Request it created, not the one whose body is watched (fetchWithinLimits).
 * Built once per server, not per request.
 */
let env: { server: Pick<BunServer, "requestIP"> } | undefined;
function envFor(server: BunServer): { server: Pick<BunServer, "requestIP"> } {
  env ??= { server: { requestIP: (request) => server.requestIP(originals.get(request) ?? request) } };
  return env;
}

/**
 * Bun's idle timer cannot tell a stalled upload from a request waiting on a slow upstream: both
 * are a silent connection. So the connection keeps idleTimeout while the body arrives and gets
 * the upstream's whole wait once the body is in (the balancer's timeouts bound that wait), and
 * idleTimeout again when the response starts, which bounds a quiet response stream, a client
 * that stopped reading, and the keep-alive wait after it.
 */
function fetchWithinLimits(
  request: Request,
  server: BunServer,
  fetch: (request: Request) => Response | Promise<Response>,
  idleSeconds: number,
  upstreamSeconds: number,
): Response | Promise<Response> {
  if (upstreamSeconds === idleSeconds) return fetch(request);
  let answered = false;
  let forwarded = request;
  // The balancer sends no body for GET and HEAD either (src/proxy/body.ts).
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD" || request.body === null) {
    server.timeout(request, upstreamSeconds);
  } else {
    const body = request.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        flush: () => {
          if (!answered) server.timeout(request, upstreamSeconds);
        },
      }),
    );
    try {
      forwarded = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body,
        signal: request.signal,
        duplex: "half",
      } as RequestInit);
      originals.set(forwarded, request);
    } catch {
      // A relative URL (Bun's answer to an unusable Host) or a method Request refuses (TRACE,
      // CONNECT): the balancer refuses these itself before reading any body.
      void body.cancel().catch(() => undefined);
    }
  }
  const answer = (response: Response) => {
    answered = true;
    server.timeout(request, idleSeconds);
    return response;
  };
  const result = fetch(forwarded);
  return result instanceof Promise ? result.then(answer) : answer(result);
}

await main();
