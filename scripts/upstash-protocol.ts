// The Upstash Redis REST protocol, as @upstash/redis 1.39.0 uses it: which commands a request
// may hold, how a JSON body becomes commands, and how Redis replies become the JSON answer.
//
// Protocol (what the client sends and expects):
// - POST /            body ["incr","k"]                 -> {"result": 1}
// - POST /pipeline    body [["incr","k"],["get","k"]]   -> [{"result":2},{"result":"2"}]
// - POST /multi-exec  same body, run inside MULTI/EXEC  -> [{"result":...},{"error":"..."}]
//   (a command that fails at run time gets its own {"error"} and the others still run; a
//   transaction discarded as a whole - a command refused while queueing - answers 400 with a
//   single {"error"}, as Upstash does).
// - Authorization: Bearer <token> (or ?_token=<token>); wrong or missing -> 401 {"error"}.
// - Upstash-Encoding: base64 -> every string in a result is base64, recursively through arrays,
//   except a top-level "OK" (Upstash documents that exception for the status reply and the
//   client special-cases it; ioredis hands status and bulk replies over alike, as bytes, so a
//   top-level bulk "OK" stays unencoded too, which the client reads the same). Numbers, null
//   and error messages are never encoded.
// - A Redis error on POST / -> 400 {"error": "ERR ..."}; inside /pipeline -> that entry's error.
// - Arguments may be JSON strings, numbers or booleans; they go to Redis as strings.
// - Integer replies are written with their exact digits (no float rounding in the JSON text).
// - Redis unreachable -> 503 {"error": "..."}.
//
// No HTTP or sockets here: the answer functions take the RedisCommands of redis-connections.ts.
import type { RedisCommands, Reply } from "./redis-connections.ts";

/** Commands that would break the request/reply pairing of a connection. */
const UNSUPPORTED = new Set([
  "subscribe",
  "psubscribe",
  "ssubscribe",
  "unsubscribe",
  "punsubscribe",
  "sunsubscribe",
  "monitor",
  "sync",
  "psync",
  "hello",
  "quit",
]);
/** Not allowed inside /multi-exec: they would end or nest the transaction early. */
const NOT_IN_TRANSACTION = new Set(["multi", "exec", "discard", "watch", "unwatch"]);

/** Commands that leave connection state behind: they get a connection of their own. */
const STATEFUL = new Set([
  "multi",
  "exec",
  "discard",
  "watch",
  "unwatch",
  "select",
  "reset",
  "auth",
  "client",
  "readonly",
  "readwrite",
]);
/** May legitimately wait a long time: their own connection, and no command timeout. */
const BLOCKING = new Set([
  "blpop",
  "brpop",
  "brpoplpush",
  "blmove",
  "blmpop",
  "bzpopmin",
  "bzpopmax",
  "bzmpop",
  "xread",
  "xreadgroup",
  "wait",
  "waitaof",
  "debug",
]);

/**
 * Whether a request's commands need a Redis connection of their own (they leave state on it or
 * may block it), and whether they may block (no command timeout then).
 */
export function connectionPolicy(commands: readonly (readonly string[])[]): {
  ownConnection: boolean;
  blocking: boolean;
} {
  const names = commands.map((c) => c[0]!.toLowerCase());
  const blocking = names.some((n) => BLOCKING.has(n));
  return { ownConnection: blocking || names.some((n) => STATEFUL.has(n)), blocking };
}

export function unsupportedReason(command: readonly string[]): string | undefined {
  const name = command[0]!.toLowerCase();
  if (UNSUPPORTED.has(name)) {
    return `ERR upstash-local: command '${name}' is not supported over REST`;
  }
  if (name === "client" && command[1]?.toLowerCase() === "reply") {
    return "ERR upstash-local: command 'client reply' is not supported over REST";
  }
  return undefined;
}

export class BadRequest extends Error {}

export function toCommand(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest(`ERR ${where} must be a non-empty JSON array like ["get","key"]`);
  }
  return value.map((arg, i) => {
    if (typeof arg === "string") {
      if (i === 0 && arg.length === 0) throw new BadRequest(`ERR ${where}: empty command name`);
      return arg;
    }
    if (i > 0 && typeof arg === "number" && Number.isFinite(arg)) return String(arg);
    if (i > 0 && typeof arg === "boolean") return String(arg);
    throw new BadRequest(
      `ERR ${where}, argument ${i}: expected a string${i > 0 ? ", number or boolean" : ""}, got ${
        arg === null ? "null" : Array.isArray(arg) ? "array" : typeof arg
      }`,
    );
  });
}

export function toCommandList(value: unknown): string[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest('ERR body must be a non-empty JSON array of commands like [["set","k","v"],["get","k"]]');
  }
  return value.map((command, i) => toCommand(command, `command ${i + 1}`));
}

function jsonString(value: string): string {
  return JSON.stringify(value);
}

const OK = Buffer.from("OK");

export function encodeResult(reply: Reply, base64: boolean, top: boolean): string {
  if (reply === null) return "null";
  // Integer replies, as their exact digits.
  if (typeof reply === "string") return reply;
  if (Buffer.isBuffer(reply)) {
    // Status and bulk replies both arrive as bytes: a top-level OK stays readable either way.
    if (!base64 || (top && reply.equals(OK))) return jsonString(reply.toString("utf8"));
    return jsonString(reply.toString("base64"));
  }
  if (reply instanceof Error) {
    // Only reachable inside an array (a top-level error becomes {"error"}): keep it as text.
    return jsonString(base64 ? Buffer.from(reply.message, "utf8").toString("base64") : reply.message);
  }
  return `[${reply.map((item) => encodeResult(item, base64, false)).join(",")}]`;
}

export function encodeEntry(reply: Reply, base64: boolean): string {
  if (reply instanceof Error) return `{"error":${jsonString(reply.message)}}`;
  return `{"result":${encodeResult(reply, base64, true)}}`;
}

export interface Answer {
  status: number;
  body: string;
}

export function errorBody(message: string): string {
  return `{"error":${jsonString(message)}}`;
}

/** POST / */
export async function answerSingle(redis: RedisCommands, command: string[], base64: boolean): Promise<Answer> {
  const refused = unsupportedReason(command);
  if (refused) return { status: 400, body: errorBody(refused) };
  const reply = await redis.single(command);
  if (reply instanceof Error) return { status: 400, body: errorBody(reply.message) };
  return { status: 200, body: `{"result":${encodeResult(reply, base64, true)}}` };
}

/** POST /pipeline */
export async function answerPipeline(redis: RedisCommands, commands: string[][], base64: boolean): Promise<Answer> {
  const entries: (string | undefined)[] = commands.map((command) => {
    const refused = unsupportedReason(command);
    return refused ? errorBody(refused) : undefined;
  });
  const toSend = commands.filter((_, i) => entries[i] === undefined);
  const replies = toSend.length > 0 ? await redis.pipeline(toSend) : [];
  let next = 0;
  const body = entries.map((entry) => entry ?? encodeEntry(replies[next++] ?? null, base64));
  return { status: 200, body: `[${body.join(",")}]` };
}

/** POST /multi-exec */
export async function answerMultiExec(redis: RedisCommands, commands: string[][], base64: boolean): Promise<Answer> {
  for (const command of commands) {
    const name = command[0]!.toLowerCase();
    const refused =
      unsupportedReason(command) ??
      (NOT_IN_TRANSACTION.has(name)
        ? `ERR upstash-local: command '${name}' is not allowed inside /multi-exec`
        : undefined);
    if (refused) return { status: 400, body: errorBody(refused) };
  }
  const replies = await redis.transaction(commands);
  // Discarded as a whole (a command refused while queueing): Upstash answers with one error.
  if (replies instanceof Error) return { status: 400, body: errorBody(replies.message) };
  return { status: 200, body: `[${replies.map((reply) => encodeEntry(reply, base64)).join(",")}]` };
}
