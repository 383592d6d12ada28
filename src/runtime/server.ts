// What the server runtimes (Node, Bun, Deno) share: the original Go balancer's command line (README, Running it), the config, the
// store, the client address (socket peer, or X-Forwarded-For from a trusted proxy), the active
// health timer and the start-up lines. Each entry point adds only its listener, its way of
// reading the socket peer, and its way of stopping. Only node: built-ins that all three
// runtimes provide are used here.
import { readFileSync } from "node:fs";
import process from "node:process";
import type { Context } from "hono";
import { type Balancer, createBalancer } from "../app.ts";
import { type Config, ConfigError, loadConfig, PORTABLE_STATE_KINDS } from "../config/load-config.ts";
import type { ClientGoneWatch } from "../proxy/forward.ts";
import type { BodySent } from "../proxy/request-trace.ts";
import type { WebSocketConnector } from "../proxy/websocket-connector.ts";
import type { HeaderReader } from "../routing/route-match.ts";
import type { Defer } from "../shared/defer.ts";
import { type Cidr, parseCidr } from "../shared/ip-networks.ts";
import type { UpstreamFetch } from "../shared/upstream-fetch.ts";
import type { StateKind } from "../state/types.ts";
import { CliError, goLog, parseCli, setLineFormat, usage } from "./cli.ts";
import { isTrusted, resolveClientIp } from "./client-ip.ts";
import { createStore, type StoreOpeners } from "./create-store.ts";
import { writeAccessLog, writeRecord } from "./log-writer.ts";

export const SEED_NO_BACKENDS = "Please provide one or more backends to load balance";

export interface ServerSettings {
  readonly config: Config;
  readonly port: number;
  readonly host: string;
  /** Peers whose X-Forwarded-For is believed; empty: none. */
  readonly trustedProxies: readonly Cidr[];
  readonly shutdownTimeoutMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Prints `message` to stderr and exits 1: the balancer refuses to start. */
export function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

/**
 * Reads flags and environment into validated settings. Prints usage and exits 0 for --help,
 * exits 1 with the original's message when no backends are configured anywhere; throws CliError or
 * ConfigError (every problem named) otherwise.
 */
export function readSettings(argv: readonly string[], env: Env, stateKinds?: readonly StateKind[]): ServerSettings {
  const cli = parseCli(argv);
  if (cli.help) {
    console.log(usage());
    process.exit(0);
  }
  let json: { text: string; label: string } | undefined;
  if (cli.configPath) {
    try {
      json = { text: readFileSync(cli.configPath, "utf8"), label: `--config ${cli.configPath}` };
    } catch (error) {
      fail(`--config: cannot read ${cli.configPath}: ${(error as Error).message}`);
    }
  }
  const hasBackends = cli.flags["backends"] !== undefined || !!env["BACKENDS"] || !!env["LB_CONFIG"] || !!json;
  if (!hasBackends) fail(SEED_NO_BACKENDS);

  const config = loadConfig({ env, json, flags: cli.flags, ...(stateKinds ? { stateKinds } : {}) });
  return {
    config,
    port: config.port,
    host: config.host,
    trustedProxies: config.trust_proxy.map((text) => parseCidr(text)!),
    shutdownTimeoutMs: config.shutdown_timeout_ms,
  };
}

export interface ServerBalancer {
  readonly settings: ServerSettings;
  readonly balancer: Balancer;
  /** Prints the original's "Load Balancer started at :PORT" and the list of backends. */
  announce(port: number): void;
  /** Stops the active health timer (shutdown). */
  stopBackground(): void;
}

export interface ServerOptions {
  /** The socket peer's address as the runtime reports it. */
  readonly peerAddress: (c: Context) => string | undefined;
  /**
   * A runtime-specific client for upstream calls, chosen once the config is known (e.g. one that
   * can send the Host header for preserve_host); undefined keeps the global fetch.
   */
  readonly fetchFor?: (config: Config) => UpstreamFetch | undefined;
  /** BalancerOptions.watchClientGone. */
  readonly watchClientGone?: (c: Context) => ClientGoneWatch | undefined;
  /** How this runtime carries a WebSocket upgrade (BalancerOptions.webSockets). */
  readonly webSockets?: (c: Context) => WebSocketConnector | undefined;
  /** What the server can tell of a response body's end (BalancerOptions.responseSent). */
  readonly responseSent?: (c: Context) => BodySent | undefined;
  /** BalancerOptions.routingHeaders. */
  readonly routingHeaders?: (c: Context) => HeaderReader | undefined;
  /** Stores only this runtime can open (Deno: deno-kv), beside the portable ones. */
  readonly stores?: StoreOpeners;
}

/**
 * The whole start-up before listening: settings (or a refusal naming every bad field), the
 * store, the balancer, the original's "Added backend" lines and the health timer.
 */
export async function prepareServer(argv: readonly string[], options: ServerOptions): Promise<ServerBalancer> {
  const env = process.env as Env;
  let settings: ServerSettings;
  let balancer: Balancer;
  try {
    const extra = Object.keys(options.stores ?? {}) as StateKind[];
    settings = readSettings(argv, env, extra.length > 0 ? [...PORTABLE_STATE_KINDS, ...extra] : undefined);
    setLineFormat(settings.config.log_format);
    const trusted = settings.trustedProxies;
    const upstreamFetch = options.fetchFor?.(settings.config);
    balancer = createBalancer(settings.config, {
      store: await createStore(settings.config, env, options.stores),
      clientIp:
        trusted.length === 0
          ? options.peerAddress
          : (c) => resolveClientIp(options.peerAddress(c), c.req.header("x-forwarded-for"), trusted),
      // These servers speak plain HTTP: the client's scheme is http unless a trusted proxy in
      // front (a TLS terminator) says otherwise. Never the request target's scheme.
      clientProto:
        trusted.length === 0
          ? () => "http"
          : (c) => (isTrusted(options.peerAddress(c), trusted) ? forwardedProto(c) : "http"),
      trustsPeer: trusted.length === 0 ? () => false : (c) => isTrusted(options.peerAddress(c), trusted),
      log: goLog,
      logRecord: writeRecord,
      logAccess: writeAccessLog,
      ...(upstreamFetch ? { fetch: upstreamFetch } : {}),
      ...(options.webSockets ? { webSockets: options.webSockets } : {}),
      ...(options.watchClientGone ? { watchClientGone: options.watchClientGone } : {}),
      ...(options.responseSent ? { responseSent: options.responseSent } : {}),
      ...(options.routingHeaders ? { routingHeaders: options.routingHeaders } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof CliError) fail(error.message);
    throw error;
  }
  const backends = settings.config.pools.flatMap((pool) => pool.backends);
  for (const backend of backends) goLog(`Added backend: ${backend.url}`);
  if (settings.trustedProxies.length > 0) {
    goLog(`Trusting X-Forwarded-For from: ${settings.trustedProxies.map((c) => c.text).join(", ")}`);
  }
  const stopHealth = startHealthTimer(settings.config, balancer);
  return {
    settings,
    balancer,
    announce(port) {
      goLog(`Load Balancer started at :${port}`);
      goLog(`Load balancing to servers: [${backends.map((b) => b.url).join(" ")}]`);
      // Several pools: which backends each has, and the routes in the order they are tried.
      if (settings.config.pools.length > 1 || settings.config.routes) {
        for (const pool of settings.config.pools) {
          goLog(`Pool ${pool.name} (${pool.algorithm}): [${pool.backends.map((b) => b.url).join(" ")}]`);
        }
        for (const route of balancer.routing.routes) {
          const { policy, pools, fallback } = route.steering;
          goLog(`Route ${route.name}: ${policy} over ${pools.join(", ")}${fallback ? `, fallback ${fallback}` : ""}`);
        }
      }
    },
    stopBackground: stopHealth,
  };
}

/** A trusted proxy's X-Forwarded-Proto (its own, right-most value), if it is http or https. */
function forwardedProto(c: Context): "http" | "https" {
  const value = c.req.header("x-forwarded-proto")?.split(",").pop()?.trim().toLowerCase();
  return value === "https" ? "https" : "http";
}

/** Active checks on a timer; the store lock still keeps it to one round per interval per group. */
function startHealthTimer(config: Config, balancer: Balancer): () => void {
  const intervals = config.pools.flatMap((pool) => (pool.health_check ? [pool.health_check.interval_ms] : []));
  if (intervals.length === 0) return () => undefined;
  const background: Defer = (work) => void work.catch(() => undefined);
  const tick = () => void balancer.runHealthChecks(background).catch(() => undefined);
  tick();
  const timer = setInterval(tick, Math.max(100, Math.min(...intervals) / 4));
  // Node and Bun: the timer alone does not keep the process alive. (Deno's timer is a number.)
  (timer as { unref?: () => void }).unref?.();
  return () => clearInterval(timer);
}

export { goLog };
