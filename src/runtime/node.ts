// Node entry point: `npm run lb -- --backends=URL,URL --port=3000` (the original Go balancer's command line: README, Running it).

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { goLog } from "./cli.ts";
import { flushThen, useLineWriter } from "./log-writer.ts";
import { IncomingHeaders } from "./node-headers.ts";
import { nodeLineWriter } from "./node-log-writer.ts";
import { nodeWebSocketsOf, serveUpgrades } from "./node-upgrade.ts";
import { nodeUpstream } from "./node-upstream.ts";
import { fail, prepareServer } from "./server.ts";
import { installShutdown } from "./shutdown.ts";
import { type NodeTimeouts, nodeTimeouts } from "./slow-clients.ts";

async function main(): Promise<void> {
  useLineWriter(nodeLineWriter(), "in-batch");
  const { settings, balancer, announce, stopBackground } = await prepareServer(process.argv.slice(2), {
    peerAddress: (c) => getConnInfo(c).remote.address,
    // One keep-alive pool per backend, which also sends the Host header preserve_host needs.
    // EDGE_LB_GLOBAL_FETCH=1 keeps Node's global fetch instead: the bench's comparison row only.
    fetchFor: (config) =>
      process.env["EDGE_LB_GLOBAL_FETCH"] === "1"
        ? undefined
        : nodeUpstream({ connections: config.upstream_connections > 0 ? config.upstream_connections : undefined }),
    webSockets: nodeWebSocketsOf,
    // 'close' follows 'finish' once the response has gone whole; alone, the client broke it off.
    responseSent: (c) => {
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (!outgoing) return undefined;
      // on, not once: a response closes once, and once wraps every listener in a function of its own.
      return (settled) => outgoing.on("close", () => settled(outgoing.writableFinished));
    },
    routingHeaders: (c) => {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      return incoming ? new IncomingHeaders(incoming) : undefined;
    },
    watchClientGone: (c) => {
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (!outgoing) return undefined;
      return (listener) => {
        outgoing.once("close", listener);
        return () => outgoing.off("close", listener);
      };
    },
  });
  const { port, host } = settings;
  const limits = nodeTimeouts(settings.config);
  const server = serve(
    {
      fetch: balancer.fetch,
      port,
      hostname: host,
      // The checking interval can only be given to the constructor.
      serverOptions: {
        headersTimeout: limits.headersTimeout,
        requestTimeout: limits.requestTimeout,
        connectionsCheckingInterval: limits.connectionsCheckingInterval,
      },
    },
    (info: AddressInfo) => announce(info.port),
  ) as Server;
  limitSlowClients(server, limits);
  serveUpgrades(server, balancer.fetch);
  server.on("error", (error) => fail(`cannot listen on ${host}:${port}: ${error.message}`));

  installShutdown({
    onSignal: (signal, handler) => process.on(signal, handler),
    drain: () => drainNodeServer(server),
    // Open WebSockets hold server.close() up; they are sent a close (1001) rather than cut.
    forceClose: async () => {
      const closing = balancer.webSockets.closeAll(1001, "server shutting down");
      server.closeAllConnections();
      await closing;
    },
    flush: () => balancer.flush(),
    stopBackground,
    timeoutMs: settings.shutdownTimeoutMs,
    log: goLog,
    exit: (code) => flushThen(() => process.exit(code)),
  });
}

/**
 * node:http treats every quiet socket alike: with server.timeout alone, a connection waiting on a
 * slow upstream (no bytes either way) is cut like a stalled upload. With a 'timeout' listener
 * node:http leaves the decision here: a connection quiet for idle_timeout_ms is closed unless
 * its request body is all in and the response has not started, which is the wait timeout_ms
 * (times the attempts) already bounds. Once the response streams, quiet means a stalled
 * upstream body or a client that stopped reading, and both are closed.
 */
function limitSlowClients(server: Server, limits: NodeTimeouts): void {
  const exchanges = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => exchanges.set(req.socket, { req, res }));
  server.on("timeout", (socket: Socket) => {
    const exchange = exchanges.get(socket);
    if (exchange?.req.complete && !exchange.res.headersSent) return;
    socket.destroy();
  });
  server.timeout = limits.idleTimeout;
  // Idle keep-alive connections arrive at the same listener (node:http times them out through
  // the socket timeout too), finished exchanges and all.
  server.keepAliveTimeout = limits.keepAliveTimeout;
  if (limits.maxConnections !== undefined) server.maxConnections = limits.maxConnections;
}

/**
 * Stops listening and resolves once every connection has closed. close() alone waits for idle
 * keep-alive connections to time out, so idle ones are closed now and again as requests in
 * flight finish (a connection turns idle when its last response is sent).
 */
function drainNodeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    server.close(() => {
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

await main();
