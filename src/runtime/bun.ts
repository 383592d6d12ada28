// Bun entry point: `npm run lb:bun -- --backends=URL,URL --port=3000`, the same flags and
// start-up lines as the Node CLI. Bun runs the TypeScript sources as they are.
import process from "node:process";
import { goLog } from "./cli.ts";
import { fail, prepareServer } from "./server.ts";
import { installShutdown } from "./shutdown.ts";

/** The little of Bun's API used here (no @types/bun in this project). */
interface BunServer {
  readonly port: number;
  requestIP(request: Request): { address: string; family: string; port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void>;
}
interface BunServeOptions {
  port: number;
  hostname: string;
  /** Seconds a connection may sit without traffic; 0 turns the limit off. */
  idleTimeout: number;
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
}
declare const Bun: { serve(options: BunServeOptions): BunServer };

function main(): void {
  const { settings, balancer, announce, stopBackground } = prepareServer(process.argv.slice(2), {
    // Hono hands the runtime's second fetch argument (the Bun server) to handlers as c.env.
    peerAddress: (c) => (c.env as BunServer).requestIP(c.req.raw)?.address,
  });
  const { port, host } = settings;
  let server: BunServer;
  try {
    server = Bun.serve({
      port,
      hostname: host,
      // Bun's default (10 s) would cut a client off while a slow upstream is still answering;
      // the balancer's own per-try timeout (TIMEOUT_MS) bounds a request instead.
      idleTimeout: 0,
      fetch: (request, bunServer) => balancer.fetch(request, bunServer),
    });
  } catch (error) {
    fail(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  announce(server.port);

  installShutdown({
    onSignal: (signal, handler) => process.on(signal, handler),
    // stop(false): stop listening, let requests in flight finish; resolves when they have.
    drain: () => server.stop(false),
    forceClose: () => server.stop(true),
    flush: () => balancer.flush(),
    stopBackground,
    timeoutMs: settings.shutdownTimeoutMs,
    log: goLog,
    exit: (code) => process.exit(code),
  });
}

main();
