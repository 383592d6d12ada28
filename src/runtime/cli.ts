import { parseArgs } from "node:util";
import { ALGORITHMS } from "../balancer/registry.ts";
import { SETTINGS } from "../config/settings.ts";

/** Flags every server runtime (Node, Bun, Deno) accepts: the config settings plus these. */
const RUNTIME_FLAGS = {
  port: { type: "string" },
  host: { type: "string" },
  config: { type: "string" },
  "trust-proxy": { type: "string" },
  "shutdown-timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CliArgs {
  readonly flags: Record<string, string | undefined>;
  readonly port: number;
  readonly host: string;
  readonly configPath: string | undefined;
  /** --trust-proxy as written (validated by the server set-up, which also reads TRUST_PROXY). */
  readonly trustProxy: string | undefined;
  /** --shutdown-timeout-ms as written (validated with SHUTDOWN_TIMEOUT_MS). */
  readonly shutdownTimeoutMs: string | undefined;
  readonly help: boolean;
}

export class CliError extends Error {}

export function parseCli(argv: readonly string[]): CliArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { ...RUNTIME_FLAGS };
  for (const setting of SETTINGS) if (setting.flag) options[setting.flag] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${usage()}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const flags: Record<string, string | undefined> = {};
  for (const setting of SETTINGS) {
    const value = setting.flag ? values[setting.flag] : undefined;
    if (typeof value === "string") flags[setting.flag!] = value;
  }
  const portText = typeof values["port"] === "string" ? values["port"] : "3000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new CliError(`--port: expected an integer from 0 to 65535 (got "${portText}")`);
  }
  return {
    flags,
    port,
    host: typeof values["host"] === "string" ? values["host"] : "0.0.0.0",
    configPath: typeof values["config"] === "string" ? values["config"] : undefined,
    trustProxy: typeof values["trust-proxy"] === "string" ? values["trust-proxy"] : undefined,
    shutdownTimeoutMs: typeof values["shutdown-timeout-ms"] === "string" ? values["shutdown-timeout-ms"] : undefined,
    help: values["help"] === true,
  };
}

export function usage(): string {
  const lines = [
    "usage: edge-lb --backends=URL[,URL...] [--port=3000] [options]",
    "",
    "  --port=N            port to serve (default 3000; 0 picks a free one)",
    "  --host=ADDR         address to bind (default 0.0.0.0)",
    "  --config=FILE       JSON config (same shape as LB_CONFIG)",
    "  --trust-proxy=CIDR,...  peers whose X-Forwarded-For is believed (default none) [TRUST_PROXY]",
    "  --shutdown-timeout-ms=N  on SIGTERM/SIGINT, time in-flight requests get (default 30000) [SHUTDOWN_TIMEOUT_MS]",
  ];
  for (const setting of SETTINGS) {
    if (setting.flag) lines.push(`  --${`${setting.flag}=...`.padEnd(18)}${setting.help} [${setting.env}]`);
  }
  lines.push("", "algorithms:");
  for (const algorithm of ALGORITHMS) lines.push(`  ${algorithm.name.padEnd(22)}${algorithm.help}`);
  return lines.join("\n");
}

/** Go's log.Printf prefix, as the seed's balancer printed it: 2024/05/21 18:04:55 */
export function goLog(line: string): void {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  console.log(`${stamp} ${line}`);
}
