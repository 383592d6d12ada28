import { STATE_KINDS, type StateKind } from "../state/types.ts";
import { isSecretName, jsonSyntaxSummary, REDACTED, redact, scrubCredentials } from "./redact.ts";
import { configSchema, type ParsedConfig } from "./schema.ts";
import { SETTINGS, type Setting } from "./settings.ts";
import type * as z from "./zod.ts";

export type Config = ParsedConfig;
export type PoolConfig = Config["pools"][number];

/** One rejected setting: where it came from, what it held, what was expected. */
export interface ConfigProblem {
  readonly field: string;
  readonly value: unknown;
  readonly expected: string;
}

/**
 * Every problem is redacted on the way in (see config/redact.ts), so neither the message nor
 * `problems` can carry a secret to whoever logs or serves them.
 */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const safe = problems.map(redactProblem);
    super(
      "invalid configuration:\n" +
        safe.map((p) => `  ${p.field}: ${p.expected} (got ${describeValue(p.value)})`).join("\n"),
    );
    this.name = "ConfigError";
    this.problems = safe;
  }

  /** Where the bad settings came from (BACKENDS, LB_CONFIG, --algorithm, ...), once each. */
  get sources(): string[] {
    return [...new Set(this.problems.map((p) => p.field.split(" (")[0]!))];
  }
}

function redactProblem(problem: ConfigProblem): ConfigProblem {
  return {
    field: scrubCredentials(problem.field),
    value: redact(problem.value, isSecretName(problem.field)),
    expected: scrubCredentials(problem.expected),
  };
}

export interface ConfigSources {
  /** Environment variables or wrangler vars (BACKENDS, ALGORITHM, LB_CONFIG, ...). */
  readonly env?: Readonly<Record<string, unknown>>;
  /** A JSON config document and the label errors should name (a file path, or LB_CONFIG). */
  readonly json?: { readonly text: string; readonly label: string };
  /** Command-line flags without dashes: { backends: "...", algorithm: "..." }. */
  readonly flags?: Readonly<Record<string, string | undefined>>;
  /** The stores this runtime can open (default PORTABLE_STATE_KINDS): any other STATE is refused. */
  readonly stateKinds?: readonly StateKind[];
}

/** Every store but deno-kv, which only the Deno entry point can open (Deno.openKv). */
export const PORTABLE_STATE_KINDS: readonly StateKind[] = STATE_KINDS.filter((kind) => kind !== "deno-kv");

type Path = readonly (string | number)[];

/**
 * Builds the config from its sources, later wins: defaults, environment, LB_CONFIG, the JSON
 * file, flags. Throws ConfigError naming every bad field; callers refuse to start on it.
 */
export function loadConfig(sources: ConfigSources): Config {
  const raw: Record<string, unknown> = { pools: [{}] };
  // The source that last set each path, so a problem names what the user actually wrote.
  const origins = new Map<string, string>();
  const problems: ConfigProblem[] = [];

  // Paths whose setting could not be read: the schema's complaints about them would only echo it.
  const unread: string[] = [];
  const apply = (setting: Setting, value: string, label: string) => {
    const parsed = setting.parse(value);
    if (!parsed.ok) {
      problems.push({ field: label, value, expected: parsed.expected });
      unread.push(setting.path.join("."));
      return;
    }
    setPath(raw, setting.path, parsed.value);
    origins.set(setting.path.join("."), label);
  };

  const env = sources.env ?? {};
  for (const setting of SETTINGS) {
    const value = setting.env ? env[setting.env] : undefined;
    if (typeof value === "string" && value.trim() !== "") apply(setting, value, setting.env!);
  }
  const lbConfig = env["LB_CONFIG"];
  if (typeof lbConfig === "string" && lbConfig.trim() !== "") {
    if (!mergeJson(raw, origins, problems, lbConfig, "LB_CONFIG")) unread.push("");
  }
  // A JSON source that cannot be read could have set anything: the schema has nothing to add.
  if (sources.json && !mergeJson(raw, origins, problems, sources.json.text, sources.json.label)) unread.push("");
  for (const setting of SETTINGS) {
    const value = setting.flag ? sources.flags?.[setting.flag] : undefined;
    if (value !== undefined) apply(setting, value, `--${setting.flag}`);
  }
  // Every problem at once, the settings that could not be read and what the schema says of the rest.
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const schemaProblems = result.error.issues
      .filter((issue) => !unread.some((path) => issue.path.join(".").startsWith(path)))
      .flatMap((issue) => toProblems(issue, origins));
    problems.push(...schemaProblems);
  }
  const kinds = sources.stateKinds ?? PORTABLE_STATE_KINDS;
  if (result.success && !kinds.includes(result.data.state)) {
    problems.push({
      field: fieldName(["state"], origins),
      value: result.data.state,
      expected: `one of ${kinds.join(", ")} on this runtime (deno-kv runs on Deno only: npm run lb:deno)`,
    });
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

function mergeJson(
  raw: Record<string, unknown>,
  origins: Map<string, string>,
  problems: ConfigProblem[],
  text: string,
  label: string,
): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    // The text is never printed: a secret sits beside whatever broke the syntax.
    problems.push({
      field: label,
      value: REDACTED,
      expected: `valid JSON (JSON.parse: ${jsonSyntaxSummary(error, text)})`,
    });
    return false;
  }
  if (!isPlainObject(doc)) {
    problems.push({ field: label, value: doc, expected: "a JSON object" });
    return false;
  }
  deepMerge(raw, doc, [], (path) => origins.set(path.join("."), label));
  return true;
}

/** Objects merge key by key; arrays and scalars replace, so a JSON backends list is the list. */
function deepMerge(
  target: Record<string, unknown>,
  source: Record<string, unknown>,
  path: Path,
  mark: (path: Path) => void,
): void {
  for (const [key, value] of Object.entries(source)) {
    const here = [...path, key];
    const existing = target[key];
    if (key === "pools" && Array.isArray(value) && Array.isArray(existing)) {
      // Pools merge by position so LB_CONFIG can tune the pool BACKENDS described.
      value.forEach((pool, index) => {
        const into = existing[index];
        if (isPlainObject(pool) && isPlainObject(into)) deepMerge(into, pool, [...here, index], mark);
        else existing[index] = pool;
        mark([...here, index]);
      });
      mark(here);
      continue;
    }
    if (isPlainObject(value) && isPlainObject(existing)) deepMerge(existing, value, here, mark);
    else target[key] = value;
    mark(here);
  }
}

function toProblems(issue: z.core.$ZodIssue, origins: Map<string, string>): ConfigProblem[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => ({
      field: fieldName([...issue.path, key], origins),
      value: key,
      expected: "a known setting (unknown key)",
    }));
  }
  return [{ field: fieldName(issue.path, origins), value: issue.input, expected: issue.message }];
}

/** JSON path like pools[0].backends[1].url, prefixed by the env var or flag that supplied it. */
function fieldName(path: readonly PropertyKey[], origins: Map<string, string>): string {
  const jsonPath = path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
  for (let end = path.length; end > 0; end--) {
    const origin = origins.get(path.slice(0, end).join("."));
    if (origin) return origin === jsonPath ? origin : `${origin} (${jsonPath})`;
  }
  return jsonPath || "config";
}

function setPath(target: Record<string, unknown>, path: Path, value: unknown): void {
  let node: Record<string | number, unknown> = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (!isPlainObject(next) && !Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string | number, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === REDACTED) return REDACTED;
  const text = typeof value === "string" ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
