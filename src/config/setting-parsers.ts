/**
 * How a setting's string (an environment variable, a flag) becomes config JSON. Validation proper
 * happens once, in the schema; these parsers only shape strings (a number-looking string becomes
 * a number, anything else passes through so the schema can name it).
 */

export type ParseResult = { ok: true; value: unknown } | { ok: false; expected: string };

export interface Setting {
  readonly env?: string;
  readonly flag?: string;
  readonly path: readonly (string | number)[];
  readonly parse: (value: string) => ParseResult;
  /** What it does, for --help and the README (the default is read from the schema). */
  readonly help: string;
  /** The default as --help shows it, where the schema's value alone would mislead (none, required). */
  readonly default?: string;
}

export const ok = (value: unknown): ParseResult => ({ ok: true, value });

/** A number when the string spells one; otherwise the string, for the schema to reject by name. */
export function numberish(value: string): unknown {
  const trimmed = value.trim();
  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

export const looseNumber = (value: string): ParseResult => ok(numberish(value));

export function looseBoolean(value: string): ParseResult {
  const lowered = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(lowered)) return ok(true);
  if (["0", "false", "no", "off"].includes(lowered)) return ok(false);
  return { ok: false, expected: "true or false" };
}

export const text = (value: string): ParseResult => ok(value.trim());

/** "a, b ,c" -> ["a", "b", "c"]; empty items dropped. */
export const list = (value: string): ParseResult =>
  ok(
    value
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  );
