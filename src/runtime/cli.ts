import { parseArgs } from "node:util";
import { ALGORITHMS } from "../balancer/registry.ts";
import { settingDefault } from "../config/setting-defaults.ts";
import { SETTINGS } from "../config/settings.ts";
import { writeLine, writeRecord } from "./log-writer.ts";

/** Flags beyond the config settings: where the config comes from, and help. */
const SOURCE_FLAGS = {
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export interface CliArgs {
  /** Setting flags as written, by flag name without dashes; the config loader validates them. */
  readonly flags: Record<string, string | undefined>;
  readonly configPath: string | undefined;
  readonly help: boolean;
}

export class CliError extends Error {}

export function parseCli(argv: readonly string[]): CliArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { ...SOURCE_FLAGS };
  for (const setting of SETTINGS) if (setting.flag) options[setting.flag] = { type: "string" };
  let parsed: ReturnType<typeof parseArgs>;
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
  return {
    flags,
    configPath: typeof values["config"] === "string" ? values["config"] : undefined,
    help: values["help"] === true,
  };
}

/** Read by the runtimes beside the settings table: where the config and the store's credentials come from. */
const OTHER_ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ["UPSTASH_REDIS_REST_URL", "STATE=upstash: the Upstash REST endpoint"],
  ["UPSTASH_REDIS_REST_TOKEN", "STATE=upstash: its token (a secret)"],
];

/** --help: every setting of the one table (src/config/settings.ts) with its variable, default and meaning. */
export function usage(): string {
  const row = (flag: string, env: string, fallback: string) =>
    `  ${flag.padEnd(32)} ${env.padEnd(30)} ${fallback}`.trimEnd();
  const lines = [
    "usage: edge-lb --backends=URL[,URL...] [--port=3000] [options]",
    "",
    "Every setting is a flag or an environment variable; a flag wins over the variable, and both",
    "over a JSON config. Secrets are environment variables only.",
    "",
    row("flag", "environment variable", "default"),
  ];
  for (const setting of SETTINGS) {
    lines.push(row(setting.flag ? `--${setting.flag}` : "", setting.env ?? "", settingDefault(setting)));
    lines.push(`      ${setting.help}`);
  }
  lines.push(row("--config=FILE", "LB_CONFIG", ""), "      the whole config as JSON (the schema's snake_case shape)");
  lines.push(row("--help, -h", "", ""), "      this text", "", "other environment:");
  for (const [name, meaning] of OTHER_ENVIRONMENT) lines.push(`  ${name.padEnd(32)} ${meaning}`);
  lines.push("", "algorithms:");
  for (const algorithm of ALGORITHMS) lines.push(`  ${algorithm.name.padEnd(22)}${algorithm.help}`);
  return lines.join("\n");
}

let format: "text" | "json" = "text";

/** LOG_FORMAT: json turns the runtime's own lines (start-up, shutdown) into {time, msg} objects too. */
export function setLineFormat(next: "text" | "json"): void {
  format = next;
}

/** The local time of day in Go's log format, made once a second (a busy balancer logs thousands of lines a second). */
let stampSecond = Number.NaN;
let stampText = "";
function goStamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    const d = new Date(second * 1000);
    const pad = (n: number) => String(n).padStart(2, "0");
    stampText = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  return stampText;
}

/** Go's log.Printf prefix, as the Go balancer this project grew from printed it (README, Running it): 2024/05/21 18:04:55 */
export function goLog(line: string): void {
  if (format === "json") {
    writeRecord({ time: new Date().toISOString(), msg: line });
    return;
  }
  const stamp = goStamp(Date.now());
  writeLine(`${stamp} ${line}`);
}
