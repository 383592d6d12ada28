/**
 * What a config error may print. Errors reach logs, terminals and (on Workers) a log stream
 * that others read, so a problem names the field and the shape of what was wrong, never a
 * secret: values under secret-looking names, URL credentials and raw JSON text are hidden.
 */

export const REDACTED = "<redacted>";

/**
 * Names whose values are secrets. Beyond token/secret/password, a health check's Authorization
 * or Cookie header is as sensitive; `cookie` only as a whole word so admin_cookie_secure (a
 * boolean) still prints.
 */
const SECRET_NAME = /token|secret|passw(or)?d|authorization|credential|api[-_]?key|(?<![a-z_])cookie(?![a-z_])/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/**
 * scheme://userinfo@ anywhere in the text becomes scheme://<redacted>@. The userinfo runs to
 * the last @ before a separator, as URL parsers read it, so `user:p@ss@host` hides all of it;
 * a password holding "/" makes the URL invalid, and greediness past "/" hides that too.
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^\s"'`,|\\]*@/gi;

export function scrubCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
}

/**
 * A copy safe to print or hand to callers: secret-named keys hold REDACTED at any depth,
 * strings (and keys) lose URL credentials. `secret` redacts the value as a whole.
 */
export function redact(value: unknown, secret = false, depth = 0): unknown {
  if (value === undefined) return undefined;
  if (secret) return REDACTED;
  if (typeof value === "string") return scrubCredentials(value);
  if (typeof value !== "object" || value === null) return value;
  // Parsed JSON has no cycles, but a problem value could be anything a caller built.
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redact(item, false, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [scrubCredentials(key), redact(item, isSecretName(key), depth + 1)]),
  );
}

/**
 * JSON.parse's complaint without the text it quotes: V8 quotes a snippet ("..." is not valid
 * JSON) and the offending character, JavaScriptCore quotes the identifier or escape. What stays
 * is the kind of error, and where it is: engines give a position only sometimes (V8 not for an
 * unexpected token, JavaScriptCore never), so the offset comes from our own scan.
 */
export function jsonSyntaxSummary(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const kind = message
    .replace(/^JSON Parse error:\s*/i, "")
    .replace(/\s*in JSON at position[\s\S]*$/, "")
    .replace(/ token '[\s\S]*$/, " token")
    .replace(/\s*["`][\s\S]*$/, "")
    .replace(/(escape character)\s+\S+$/i, "$1")
    .replace(/[,:\s]+$/, "")
    .slice(0, 80);
  const offset = jsonErrorOffset(text);
  if (offset === undefined) return kind || "syntax error";
  const before = text.slice(0, offset).split("\n");
  const where = `at position ${offset} (line ${before.length} column ${before.at(-1)!.length + 1})`;
  return `${kind || "syntax error"} ${where}`;
}

const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** Offset of the first character that cannot continue a JSON text (RFC 8259), or undefined. */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new JsonStop(i);
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const expect = (char: string) => (text[i] === char ? i++ : fail());
  const string = () => {
    expect('"');
    while (text[i] !== '"') {
      if (i >= text.length || text[i]! < " ") fail();
      if (text[i] === "\\") {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.test(text)) fail();
        i = ESCAPE.lastIndex;
      } else i++;
    }
    i++;
  };
  const list = (close: string, item: () => void): void => {
    i++;
    space();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[i] === close) {
        i++;
        return;
      }
      expect(",");
    }
  };
  const value = (): void => {
    space();
    if (text[i] === "{") {
      list("}", () => {
        space();
        string();
        space();
        expect(":");
        value();
      });
      return;
    }
    if (text[i] === "[") {
      list("]", value);
      return;
    }
    if (text[i] === '"') {
      string();
      return;
    }
    LITERAL.lastIndex = i;
    if (!LITERAL.test(text)) fail();
    i = LITERAL.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) fail();
    return undefined;
  } catch (stop) {
    // Anything else (a stack overflow on absurd nesting) leaves the position unknown.
    return stop instanceof JsonStop ? stop.offset : undefined;
  }
}

class JsonStop {
  constructor(readonly offset: number) {}
}
