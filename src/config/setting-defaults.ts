import { configSchema } from "./schema.ts";
import type { Setting } from "./setting-parsers.ts";

/**
 * Each setting's default as --help prints it, read from the schema itself so the two cannot
 * drift: the smallest valid config (one backend, active checks on so their defaults show) is
 * parsed once, and a setting's default is whatever lands at its path.
 */

const SMALLEST = { pools: [{ backends: [{ url: "http://backend.invalid" }], health_check: {} }] };

let parsed: Record<string, unknown> | undefined;

export function settingDefault(setting: Setting): string {
  if (setting.default !== undefined) return setting.default;
  parsed ??= configSchema.parse(SMALLEST) as Record<string, unknown>;
  let value: unknown = parsed;
  for (const part of setting.path) value = (value as Record<string | number, unknown> | undefined)?.[part];
  return describeDefault(value);
}

function describeDefault(value: unknown): string {
  if (value === undefined) return "(none)";
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.join(",");
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return String(value);
}
