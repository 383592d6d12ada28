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
//   except a top-level "OK" status reply (Upstash documents that exception and the client
//   special-cases it). Numbers, null and error messages are never encoded.
// - A Redis error on POST / -> 400 {"error": "ERR ..."}; inside /pipeline -> that entry's error.
// - Arguments may be JSON strings, numbers or booleans; they go to Redis as strings.
// - Integer replies are written with their exact digits (no float rounding in the JSON text).
// - Redis unreachable -> 503 {"error": "..."}.
//
// No HTTP or sockets here: the answer functions take `run`, which executes commands in order on
// one Redis connection (upstash-local.ts supplies it).
import { ErrorReply, IntegerReply, StatusReply, type Reply } from "./resp.ts";

/** Commands that would break the request/reply pairing of a shared connection. */
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
/** Commands that leave connection state behind: the connection is closed after the request. */
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
/** Not allowed inside /multi-exec: they would end or nest the transaction early. */
const NOT_IN_TRANSACTION = new Set(["multi", "exec", "discard", "watch", "unwatch"]);
/** May legitimately wait a long time: no command timeout for requests containing them. */
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
    throw new BadRequest(
      'ERR body must be a non-empty JSON array of commands like [["set","k","v"],["get","k"]]',
    );
  }
  return value.map((command, i) => toCommand(command, `command ${i + 1}`));
}

function jsonString(value: string): string {
  return JSON.stringify(value);
}

export function encodeResult(reply: Reply, base64: boolean, top: boolean): string {
  if (reply === null) return "null";
  if (Buffer.isBuffer(reply)) return jsonString(reply.toString(base64 ? "base64" : "utf8"));
  if (reply instanceof IntegerReply) return reply.digits;
  if (reply instanceof StatusReply) {
    if (!base64 || (top && reply.value === "OK")) return jsonString(reply.value);
    return jsonString(Buffer.from(reply.value, "utf8").toString("base64"));
  }
  if (reply instanceof ErrorReply) {
    // Only reachable inside an array (a top-level error becomes {"error"}): keep it as text.
    return jsonString(base64 ? Buffer.from(reply.message, "utf8").toString("base64") : reply.message);
  }
  return `[${reply.map((item) => encodeResult(item, base64, false)).join(",")}]`;
}

export function encodeEntry(reply: Reply, base64: boolean): string {
  if (reply instanceof ErrorReply) return `{"error":${jsonString(reply.message)}}`;
  return `{"result":${encodeResult(reply, base64, true)}}`;
}

export interface Answer {
  status: number;
  body: string;
}

export function errorBody(message: string): string {
  return `{"error":${jsonString(message)}}`;
}

/** Runs commands on one Redis connection and resolves with their replies in order. */
export type RunCommands = (commands: string[][]) => Promise<Reply[]>;

/**
 * How a request's commands may use a pooled connection: not reusable after commands that leave
 * connection state behind; no command timeout when one may block on purpose.
 */
export function connectionPolicy(commands: readonly (readonly string[])[]): { reusable: boolean; blocking: boolean } {
  const names = commands.map((c) => c[0]!.toLowerCase());
  return { reusable: !names.some((n) => STATEFUL.has(n)), blocking: names.some((n) => BLOCKING.has(n)) };
}

/** POST / */
export async function answerSingle(run: RunCommands, command: string[], base64: boolean): Promise<Answer> {
  const refused = unsupportedReason(command);
  if (refused) return { status: 400, body: errorBody(refused) };
  const [reply] = await run([command]);
  if (reply instanceof ErrorReply) return { status: 400, body: errorBody(reply.message) };
  return { status: 200, body: `{"result":${encodeResult(reply ?? null, base64, true)}}` };
}

/** POST /pipeline */
export async function answerPipeline(run: RunCommands, commands: string[][], base64: boolean): Promise<Answer> {
  const entries: (string | undefined)[] = commands.map((command) => {
    const refused = unsupportedReason(command);
    return refused ? errorBody(refused) : undefined;
  });
  const toSend = commands.filter((_, i) => entries[i] === undefined);
  const replies = toSend.length > 0 ? await run(toSend) : [];
  let next = 0;
  const body = entries.map((entry) => entry ?? encodeEntry(replies[next++] ?? null, base64));
  return { status: 200, body: `[${body.join(",")}]` };
}

/** POST /multi-exec */
export async function answerMultiExec(run: RunCommands, commands: string[][], base64: boolean): Promise<Answer> {
  for (const command of commands) {
    const name = command[0]!.toLowerCase();
    const refused =
      unsupportedReason(command) ??
      (NOT_IN_TRANSACTION.has(name)
        ? `ERR upstash-local: command '${name}' is not allowed inside /multi-exec`
        : undefined);
    if (refused) return { status: 400, body: errorBody(refused) };
  }
  const replies = await run([["MULTI"], ...commands, ["EXEC"]]);
  const multi = replies[0] ?? null;
  const exec = replies[replies.length - 1] ?? null;
  if (multi instanceof ErrorReply) return { status: 400, body: errorBody(multi.message) };
  const queueError = replies.slice(1, -1).find((r): r is ErrorReply => r instanceof ErrorReply);
  if (exec instanceof ErrorReply) {
    // EXECABORT: a command was refused while queueing, so nothing ran. Upstash answers with a
    // single error for a transaction discarded as a whole; the queueing error says why.
    return { status: 400, body: errorBody(queueError?.message ?? exec.message) };
  }
  if (!Array.isArray(exec)) {
    return { status: 400, body: errorBody("EXECABORT transaction aborted") };
  }
  return { status: 200, body: `[${exec.map((reply) => encodeEntry(reply, base64)).join(",")}]` };
}
