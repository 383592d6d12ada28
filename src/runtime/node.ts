import { serve } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createBalancer } from "../app.ts";
import { ConfigError, loadConfig, type Config } from "../config.ts";
import { CliError, goLog, parseCli, usage } from "./cli.ts";
import { createStore } from "./stores.ts";
import type { Defer } from "../state/cache.ts";

const SEED_NO_BACKENDS = "Please provide one or more backends to load balance";

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function configFrom(argv: readonly string[]): { config: Config; port: number; host: string } {
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
  const hasBackends =
    cli.flags["backends"] !== undefined || !!process.env["BACKENDS"] || !!process.env["LB_CONFIG"] || !!json;
  if (!hasBackends) fail(SEED_NO_BACKENDS);
  return { config: loadConfig({ env: process.env, json, flags: cli.flags }), port: cli.port, host: cli.host };
}

function main(): void {
  let setup;
  try {
    setup = configFrom(process.argv.slice(2));
  } catch (error) {
    if (error instanceof ConfigError || error instanceof CliError) fail(error.message);
    throw error;
  }
  const { config, port, host } = setup;
  const balancer = createBalancer(config, {
    store: createStore(config, process.env),
    clientIp: (c) => getConnInfo(c).remote.address,
    log: goLog,
  });
  const backends = config.pools.flatMap((pool) => pool.backends);
  for (const backend of backends) goLog(`Added backend: ${backend.url}`);
  const server = serve({ fetch: balancer.fetch, port, hostname: host }, (info: AddressInfo) => {
    goLog(`Load Balancer started at :${info.port}`);
    goLog(`Load balancing to servers: [${backends.map((b) => b.url).join(" ")}]`);
  });
  server.on("error", (error) => fail(`cannot listen on ${host}:${port}: ${error.message}`));
  startHealthTimer(config, balancer);
}

/** Active checks on a timer; the store lock still keeps it to one round per interval per group. */
function startHealthTimer(config: Config, balancer: { runHealthChecks: (defer: Defer) => Promise<number> }): void {
  const intervals = config.pools.flatMap((pool) => (pool.health_check ? [pool.health_check.interval_ms] : []));
  if (intervals.length === 0) return;
  const background: Defer = (work) => void work.catch(() => undefined);
  const tick = () => void balancer.runHealthChecks(background).catch(() => undefined);
  tick();
  setInterval(tick, Math.max(100, Math.min(...intervals) / 4)).unref();
}

main();
