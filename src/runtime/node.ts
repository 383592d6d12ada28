// Node entry point: `npm run lb -- --backends=URL,URL --port=3000` (the seed's command line).
import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fail, prepareServer } from "./server.ts";
import { goLog } from "./cli.ts";
import { hostPreservingFetch } from "./node-fetch.ts";
import { installShutdown } from "./shutdown.ts";

function main(): void {
  const { settings, balancer, announce, stopBackground } = prepareServer(process.argv.slice(2), {
    peerAddress: (c) => getConnInfo(c).remote.address,
    // Node's fetch will not send a Host header of ours; preserve_host needs a client that does.
    fetchFor: (config) =>
      config.pools.some((pool) => pool.preserve_host)
        ? hostPreservingFetch((request) => request.headers.get("x-forwarded-host") ?? undefined)
        : undefined,
  });
  const { port, host } = settings;
  const server = serve({ fetch: balancer.fetch, port, hostname: host }, (info: AddressInfo) => announce(info.port)) as Server;
  server.on("error", (error) => fail(`cannot listen on ${host}:${port}: ${error.message}`));

  installShutdown({
    onSignal: (signal, handler) => process.on(signal, handler),
    drain: () => drainNodeServer(server),
    forceClose: () => server.closeAllConnections(),
    flush: () => balancer.flush(),
    stopBackground,
    timeoutMs: settings.shutdownTimeoutMs,
    log: goLog,
    exit: (code) => process.exit(code),
  });
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

main();
