// Deno entry point: `npm run lb:deno -- --backends=URL,URL --port=3000`, the same flags and
// start-up lines as the Node CLI. Run with --allow-net --allow-env --allow-read (the lb:deno
// script does); npm packages resolve from the project's node_modules (package.json beside it).
// Deno Deploy: this file is the entry point; STATE=deno-kv (Deploy's own KV) or STATE=upstash
// shares state between isolates. Locally STATE=deno-kv needs --unstable-kv and --allow-write
// (the lb:deno script passes both) and DENO_KV_PATH / --deno-kv-path for the file.
import { getConnInfo } from "hono/deno";
import { type DenoKvLike, DenoKvStore } from "../state/deno-kv.ts";
import { goLog } from "./cli.ts";
import { closeWebSockets } from "./close-web-sockets.ts";
import { denoConnector } from "./deno-websocket.ts";
import { writeAllSync } from "./fd-write.ts";
import { BatchedWriter, flushThen, useLineWriter } from "./log-writer.ts";
import { fail, prepareServer } from "./server.ts";
import { installShutdown } from "./shutdown.ts";

/** The little of Deno's API used here (this project type-checks with tsc, not deno check). */
interface DenoServeHandlerInfo {
  readonly remoteAddr: { readonly transport: string; readonly hostname: string; readonly port: number };
  /** Settles once the response has gone (2.9.6: it resolves when the client broke it off too). */
  readonly completed?: Promise<void>;
}
interface DenoHttpServer {
  /** Stops listening and resolves once requests in flight have been answered. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}
declare const Deno: {
  readonly args: readonly string[];
  serve(
    options: {
      port: number;
      hostname: string;
      onListen?: (address: { hostname: string; port: number }) => void;
    },
    handler: (request: Request, info: DenoServeHandlerInfo) => Response | Promise<Response>,
  ): DenoHttpServer;
  /**
   * Answers `request` 101 through the returned response; the socket opens once that response
   * has gone out. Throws when the request is not a valid WebSocket handshake.
   */
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response };
  addSignalListener(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  exit(code: number): never;
  /** May write part of `data`: the count says how much. */
  readonly stdout: { write(data: Uint8Array): Promise<number> };
  /** Absent without --unstable-kv (Deno 2.9). */
  readonly openKv?: (path?: string) => Promise<DenoKvLike>;
};

const encoder = new TextEncoder();

/** Deno's stdout, written without blocking (log-writer.ts). */
async function writeAll(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += await Deno.stdout.write(bytes.subarray(offset));
}

const DENO_LIMITS_NOTE =
  "HEADER_TIMEOUT_MS, IDLE_TIMEOUT_MS and MAX_CONNECTIONS do not apply on Deno: Deno.serve has no such limits (put a proxy with them in front)";

async function main(): Promise<void> {
  useLineWriter(new BatchedWriter(writeAll, writeAllSync), "at-end");
  let kvStore: DenoKvStore | undefined;
  const { settings, balancer, announce, stopBackground } = await prepareServer(Deno.args, {
    // Hono hands the handler's second argument (Deno's ServeHandlerInfo) to handlers as c.env.
    peerAddress: (c) => getConnInfo(c).remote.address,
    webSockets: (c) => denoConnector(c.req.raw, (request) => Deno.upgradeWebSocket(request)),
    // ServeHandlerInfo.completed resolves once the response has gone, whole or broken off alike
    // (measured on 2.9.6), and request.signal cannot tell the two apart in time: under the default
    // "legacy abort" it aborts after every response, and with --unstable-no-legacy-abort it may
    // abort after `completed` has resolved. So on Deno a break-off is not seen (README, Logs).
    responseSent: (c) => {
      const completed = (c.env as DenoServeHandlerInfo | undefined)?.completed;
      if (!completed) return undefined;
      return (settled) => {
        completed.then(
          () => settled(true),
          () => settled(false),
        );
      };
    },
    stores: {
      "deno-kv": (config) => {
        if (!Deno.openKv) fail("STATE=deno-kv: Deno.openKv is not available; run deno with --unstable-kv");
        const path = config.deno_kv_path;
        kvStore = new DenoKvStore(Deno.openKv(path), config.state_prefix);
        return kvStore;
      },
    },
  });
  // A KV file that cannot be opened refuses to start, like any other bad setting.
  await kvStore?.opened().catch((error: Error) => {
    fail(`STATE=deno-kv: cannot open ${settings.config.deno_kv_path ?? "Deno's default KV"}: ${error.message}`);
  });
  const { port, host } = settings;
  let server: DenoHttpServer;
  try {
    // Deno.serve (2.9.6) has no header timeout, no idle or keep-alive timeout and no connection
    // cap: its options are port, hostname, signal, onListen, onError, reusePort, tcpBacklog and
    // automaticCompression, and ext/http arms no timer of its own (measured: an idle keep-alive,
    // a half-sent request head and a stalled upload all stay open). denoland/deno#3515 asks for
    // them; PR #34172 (a keepAliveTimeout option) is unmerged. So header_timeout_ms,
    // idle_timeout_ms and max_connections cannot be applied here, and the start-up log says so.
    server = Deno.serve(
      {
        port,
        hostname: host,
        onListen: (address) => {
          announce(address.port);
          goLog(DENO_LIMITS_NOTE);
        },
      },
      (request, info) => balancer.fetch(request, info),
    );
  } catch (error) {
    fail(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }

  installShutdown({
    onSignal: (signal, handler) => {
      try {
        Deno.addSignalListener(signal, handler);
      } catch {
        // Deno Deploy has no signals to listen for: the platform drains isolates itself.
      }
    },
    // shutdown(): stop accepting, finish requests in flight, close idle connections. It also
    // closes open WebSockets at once (1001 "Server shutting down", measured on 2.9.6), so they
    // get no grace period on Deno; closing them first through their relays gives the backend
    // the same 1001 instead of a close without a status.
    drain: async () => {
      await closeWebSockets(balancer.webSockets, Math.min(1_000, settings.shutdownTimeoutMs));
      await server.shutdown();
    },
    // Deno has no forced close; exiting drops whatever is still open.
    forceClose: () => undefined,
    flush: async () => {
      await balancer.flush();
      await kvStore?.close().catch(() => undefined);
    },
    stopBackground,
    timeoutMs: settings.shutdownTimeoutMs,
    log: goLog,
    exit: (code) => flushThen(() => Deno.exit(code)),
  });
}

await main();
