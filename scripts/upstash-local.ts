// A small server that speaks the Upstash Redis REST protocol, as @upstash/redis 1.39.0 uses it,
// in front of a real redis-server. For local development and tests only.
//
//   npm run upstash-local -- --redis=redis://127.0.0.1:6380 --port=8079 --token=secret
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
// Redis replies are read as Buffers (binary safe); without base64 they become UTF-8 strings (an
// invalid sequence turns into U+FFFD, like Upstash). Each HTTP request takes one connection from
// a pool for its whole duration, so the commands of one pipeline stay in order and MULTI/EXEC is
// never interleaved with another request's commands.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { pathToFileURL } from "node:url";

// ---------------------------------------------------------------------------------------------
// RESP2 client

export class StatusReply {
  constructor(readonly value: string) {}
}
export class IntegerReply {
  /** Exact decimal digits as Redis sent them (64-bit values do not fit a JS number). */
  constructor(readonly digits: string) {}
}
export class ErrorReply {
  constructor(readonly message: string) {}
}
export type Reply = null | Buffer | StatusReply | IntegerReply | ErrorReply | Reply[];

const CRLF = Buffer.from("\r\n");

function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

class ProtocolError extends Error {}

/**
 * Parses one reply starting at `pos`. Returns the reply and the index after it, or, when the
 * buffer does not hold the whole reply yet, the smallest buffer length worth trying again at.
 */
function parseReply(buf: Buffer, pos: number): { value: Reply; end: number } | number {
  if (pos >= buf.length) return pos + 1;
  const lineEnd = buf.indexOf(CRLF, pos + 1);
  if (lineEnd === -1) return buf.length + 1;
  const type = buf[pos];
  const line = buf.toString("latin1", pos + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case 0x2b: // +
      return { value: new StatusReply(buf.toString("utf8", pos + 1, lineEnd)), end: next };
    case 0x2d: // -
      return { value: new ErrorReply(buf.toString("utf8", pos + 1, lineEnd)), end: next };
    case 0x3a: // :
      if (!/^-?\d+$/.test(line)) throw new ProtocolError(`bad integer reply ${JSON.stringify(line)}`);
      return { value: new IntegerReply(line), end: next };
    case 0x24: {
      // $
      const len = Number(line);
      if (!Number.isInteger(len) || len < -1) throw new ProtocolError(`bad bulk length ${line}`);
      if (len === -1) return { value: null, end: next };
      const end = next + len + 2;
      if (buf.length < end) return end;
      return { value: buf.subarray(next, next + len), end };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (!Number.isInteger(count) || count < -1) throw new ProtocolError(`bad array length ${line}`);
      if (count === -1) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (typeof item === "number") return item;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new ProtocolError(`unexpected reply type byte 0x${(type ?? 0).toString(16)}`);
  }
}

class ReplyReader {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Do not re-parse until the buffered data reaches this length (avoids quadratic re-parsing). */
  private need = 0;

  constructor(private readonly onReply: (reply: Reply) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buf.length + this.chunkBytes < this.need) return;
    this.buf =
      this.buf.length === 0 && this.chunks.length === 1
        ? chunk
        : Buffer.concat([this.buf, ...this.chunks], this.buf.length + this.chunkBytes);
    this.chunks = [];
    this.chunkBytes = 0;
    let pos = 0;
    this.need = 0;
    while (pos < this.buf.length) {
      const parsed = parseReply(this.buf, pos);
      if (typeof parsed === "number") {
        this.need = parsed - pos;
        break;
      }
      pos = parsed.end;
      this.onReply(parsed.value);
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }
}

export class RedisConnectionError extends Error {
  override name = "RedisConnectionError";
}

interface Pending {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

/** One TCP connection to redis-server; replies are matched to commands in order. */
export class RedisConnection {
  private readonly pending: Pending[] = [];
  private readonly reader: ReplyReader;
  dead = false;

  private constructor(private readonly socket: Socket) {
    this.reader = new ReplyReader((reply) => this.onReply(reply));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on("data", (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (error) {
        this.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on("error", (error) => this.destroy(new RedisConnectionError(error.message)));
    socket.on("close", () => this.destroy(new RedisConnectionError("connection to redis closed")));
  }

  static connect(host: string, port: number, timeoutMs = 5_000): Promise<RedisConnection> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RedisConnectionError(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new RedisConnection(socket));
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new RedisConnectionError(error.message));
      });
    });
  }

  private onReply(reply: Reply): void {
    const waiter = this.pending.shift();
    if (!waiter) {
      this.destroy(new ProtocolError("reply without a pending command"));
      return;
    }
    waiter.resolve(reply);
  }

  /** Writes all commands at once and resolves with their replies, in order. */
  send(commands: readonly (readonly string[])[]): Promise<Reply[]> {
    if (this.dead) return Promise.reject(new RedisConnectionError("connection to redis closed"));
    const replies = commands.map(
      () => new Promise<Reply>((resolve, reject) => this.pending.push({ resolve, reject })),
    );
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    return Promise.all(replies);
  }

  destroy(error: Error = new RedisConnectionError("connection destroyed")): void {
    if (!this.dead) {
      this.dead = true;
      this.socket.destroy();
    }
    for (const waiter of this.pending.splice(0)) waiter.reject(error);
  }
}

interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

export function parseRedisUrl(redisUrl: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch {
    throw new Error(`invalid redis URL ${JSON.stringify(redisUrl)}: expected redis://host:port`);
  }
  if (url.protocol !== "redis:") {
    throw new Error(`unsupported redis URL scheme ${JSON.stringify(url.protocol)}: expected redis://`);
  }
  const target: RedisTarget = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: url.port ? Number(url.port) : 6379,
  };
  if (url.username) target.username = decodeURIComponent(url.username);
  if (url.password) target.password = decodeURIComponent(url.password);
  const db = url.pathname.replace(/^\//, "");
  if (db) {
    if (!/^\d+$/.test(db)) throw new Error(`invalid database ${JSON.stringify(db)} in redis URL`);
    target.db = Number(db);
  }
  return target;
}

/**
 * A pool of connections; a request holds one exclusively until it is done. Connections that a
 * request may have left in a special state (WATCH, SELECT, MULTI, ...) are closed, not reused.
 */
class RedisPool {
  private readonly idle: RedisConnection[] = [];
  /** Every open connection, idle or in use, so close() can end them all. */
  private readonly live = new Set<RedisConnection>();
  private readonly waiters: { resolve(c: RedisConnection): void; reject(e: Error): void }[] = [];
  private total = 0;
  private closed = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly maxConnections: number,
  ) {}

  async acquire(): Promise<RedisConnection> {
    if (this.closed) throw new RedisConnectionError("upstash-local is closing");
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.dead) return conn;
      this.live.delete(conn);
      this.total--;
    }
    if (this.total >= this.maxConnections) {
      return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    this.total++;
    try {
      const conn = await this.open();
      if (this.closed) {
        conn.destroy();
        throw new RedisConnectionError("upstash-local is closing");
      }
      this.live.add(conn);
      return conn;
    } catch (error) {
      this.total--;
      this.wakeWaiter();
      throw error;
    }
  }

  private async open(): Promise<RedisConnection> {
    const conn = await RedisConnection.connect(this.target.host, this.target.port);
    const setup: string[][] = [];
    if (this.target.password !== undefined) {
      setup.push(
        this.target.username !== undefined
          ? ["AUTH", this.target.username, this.target.password]
          : ["AUTH", this.target.password],
      );
    }
    if (this.target.db !== undefined) setup.push(["SELECT", String(this.target.db)]);
    if (setup.length > 0) {
      const replies = await conn.send(setup).catch((error: Error) => {
        conn.destroy();
        throw error;
      });
      const failed = replies.find((r): r is ErrorReply => r instanceof ErrorReply);
      if (failed) {
        conn.destroy();
        throw new RedisConnectionError(`redis connection setup failed: ${failed.message}`);
      }
    }
    return conn;
  }

  /** A closed or dropped connection frees a slot: let the next waiter open a new one. */
  private wakeWaiter(): void {
    const waiter = this.waiters.shift();
    if (waiter) this.acquire().then(waiter.resolve, waiter.reject);
  }

  release(conn: RedisConnection, reusable: boolean): void {
    if (!reusable || conn.dead || this.closed) {
      conn.destroy();
      this.live.delete(conn);
      this.total--;
      this.wakeWaiter();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(conn);
    else this.idle.push(conn);
  }

  close(): void {
    this.closed = true;
    this.idle.length = 0;
    for (const conn of this.live) conn.destroy(new RedisConnectionError("upstash-local is closing"));
    this.live.clear();
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new RedisConnectionError("upstash-local is closing"));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Request validation and command policy

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

function unsupportedReason(command: readonly string[]): string | undefined {
  const name = command[0]!.toLowerCase();
  if (UNSUPPORTED.has(name)) {
    return `ERR upstash-local: command '${name}' is not supported over REST`;
  }
  if (name === "client" && command[1]?.toLowerCase() === "reply") {
    return "ERR upstash-local: command 'client reply' is not supported over REST";
  }
  return undefined;
}

class BadRequest extends Error {}

function toCommand(value: unknown, where: string): string[] {
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

function toCommandList(value: unknown): string[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequest(
      'ERR body must be a non-empty JSON array of commands like [["set","k","v"],["get","k"]]',
    );
  }
  return value.map((command, i) => toCommand(command, `command ${i + 1}`));
}

// ---------------------------------------------------------------------------------------------
// JSON encoding of replies

function jsonString(value: string): string {
  return JSON.stringify(value);
}

function encodeResult(reply: Reply, base64: boolean, top: boolean): string {
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

function encodeEntry(reply: Reply, base64: boolean): string {
  if (reply instanceof ErrorReply) return `{"error":${jsonString(reply.message)}}`;
  return `{"result":${encodeResult(reply, base64, true)}}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP server

export interface UpstashRequestEvent {
  method: string;
  /** Path without the query string, e.g. "/", "/pipeline", "/multi-exec". */
  path: string;
  status: number;
  /** True when the request asked for Upstash-Encoding: base64. */
  base64: boolean;
  /** The commands of the request (arguments as the strings sent to Redis), when it had any. */
  commands?: string[][];
  /** Request headers (lower-case names). */
  headers: IncomingMessage["headers"];
}

export interface UpstashLocalOptions {
  /** redis://[user:password@]host:port[/db] of the redis-server to put the REST API in front of. */
  redisUrl: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Bearer token clients must send; a random one when omitted. */
  token?: string;
  /** Connections to Redis at most (default 32); further requests wait for one. */
  maxConnections?: number;
  /** Fail a request with 503 when Redis has not answered within this time (default 15 s; 0 = never). Requests with blocking commands are exempt. */
  commandTimeoutMs?: number;
  /** Largest accepted request body in bytes (default 64 MiB). */
  maxBodyBytes?: number;
  /** Called after every response, for tests and logging. */
  onRequest?: (event: UpstashRequestEvent) => void;
}

export interface UpstashLocal {
  url: string;
  token: string;
  port: number;
  /** Requests received so far, by path (any method and outcome). */
  stats: { requests: Record<string, number> };
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: string;
}

function errorBody(message: string): string {
  return `{"error":${jsonString(message)}}`;
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given, "utf8");
  const b = Buffer.from(expected, "utf8");
  // Compare against itself on a length mismatch so the time taken does not depend on the prefix.
  return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length;
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit (discarding), so the answer can still be sent.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) throw new BodyTooLarge(`ERR request body larger than ${limit} bytes`);
  return Buffer.concat(chunks, size);
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  if (ms <= 0) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new RedisConnectionError(`redis did not answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export async function startUpstashLocal(options: UpstashLocalOptions): Promise<UpstashLocal> {
  const target = parseRedisUrl(options.redisUrl);
  const host = options.host ?? "127.0.0.1";
  const token = options.token ?? randomBytes(24).toString("base64url");
  const commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const pool = new RedisPool(target, options.maxConnections ?? 32);
  const stats = { requests: {} as Record<string, number> };

  /** Runs commands on one pooled connection and returns their replies in order. */
  async function run(commands: string[][]): Promise<Reply[]> {
    const conn = await pool.acquire();
    const names = commands.map((c) => c[0]!.toLowerCase());
    const reusable = !names.some((n) => STATEFUL.has(n));
    const timeout = names.some((n) => BLOCKING.has(n)) ? 0 : commandTimeoutMs;
    let ok = false;
    try {
      const replies = await withTimeout(conn.send(commands), timeout, () =>
        conn.destroy(new RedisConnectionError(`redis did not answer within ${timeout} ms`)),
      );
      ok = true;
      return replies;
    } finally {
      pool.release(conn, reusable && ok);
    }
  }

  async function single(command: string[], base64: boolean): Promise<Answer> {
    const refused = unsupportedReason(command);
    if (refused) return { status: 400, body: errorBody(refused) };
    const [reply] = await run([command]);
    if (reply instanceof ErrorReply) return { status: 400, body: errorBody(reply.message) };
    return { status: 200, body: `{"result":${encodeResult(reply ?? null, base64, true)}}` };
  }

  async function pipeline(commands: string[][], base64: boolean): Promise<Answer> {
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

  async function multiExec(commands: string[][], base64: boolean): Promise<Answer> {
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The request target taken literally (no URL resolution): "/pipeline?_token=..".
    const target = req.url ?? "/";
    const queryAt = target.indexOf("?");
    const path = queryAt === -1 ? target : target.slice(0, queryAt);
    const query = new URLSearchParams(queryAt === -1 ? "" : target.slice(queryAt + 1));
    stats.requests[path] = (stats.requests[path] ?? 0) + 1;
    const base64 = String(req.headers["upstash-encoding"] ?? "").toLowerCase() === "base64";
    let commands: string[][] | undefined;

    const answer = await (async (): Promise<Answer> => {
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return { status: 405, body: errorBody(`ERR method ${req.method} not allowed: use POST`) };
      }
      const auth = req.headers.authorization ?? "";
      const given = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() ?? query.get("_token") ?? "";
      if (!given || !tokenMatches(given, token)) {
        return { status: 401, body: errorBody("Unauthorized: invalid or missing auth token") };
      }
      if (path !== "/" && path !== "/pipeline" && path !== "/multi-exec") {
        return {
          status: 404,
          body: errorBody(`ERR upstash-local: no endpoint ${path} (use /, /pipeline or /multi-exec)`),
        };
      }
      let parsed: unknown;
      try {
        const raw = await readBody(req, maxBodyBytes);
        parsed = JSON.parse(raw.toString("utf8"));
      } catch (error) {
        if (error instanceof BodyTooLarge) return { status: 413, body: errorBody(error.message) };
        return {
          status: 400,
          body: errorBody(`ERR failed to parse request body as JSON: ${(error as Error).message}`),
        };
      }
      try {
        if (path === "/") {
          const command = toCommand(parsed, "body");
          commands = [command];
          return await single(command, base64);
        }
        commands = toCommandList(parsed);
        return path === "/pipeline"
          ? await pipeline(commands, base64)
          : await multiExec(commands, base64);
      } catch (error) {
        if (error instanceof BadRequest) return { status: 400, body: errorBody(error.message) };
        if (error instanceof RedisConnectionError) {
          return { status: 503, body: errorBody(`ERR upstash-local: redis unavailable: ${error.message}`) };
        }
        throw error;
      }
    })().catch(
      (error: unknown): Answer => ({
        status: 500,
        body: errorBody(`ERR upstash-local internal error: ${(error as Error)?.message ?? String(error)}`),
      }),
    );

    if (!res.headersSent && !res.destroyed) {
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
    }
    if (options.onRequest) {
      const event: UpstashRequestEvent = {
        method: req.method ?? "",
        path,
        status: answer.status,
        base64,
        headers: req.headers,
      };
      if (commands) event.commands = commands;
      try {
        options.onRequest(event);
      } catch {
        // A broken hook must not take the server down.
      }
    }
  }

  const server = createServer((req, res) => {
    res.on("error", () => {});
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.on("clientError", (_error, socket) => {
    if (socket.writable) {
      const body = errorBody("ERR malformed HTTP request");
      socket.end(
        "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: application/json\r\n" +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    token,
    port,
    stats,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        pool.close();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  const hit = args.find((a) => a.startsWith(prefix));
  if (hit) return hit.slice(prefix.length);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const redisUrl = flag(args, "redis") ?? process.env.REDIS_URL;
  if (!redisUrl) {
    console.error(
      "usage: npm run upstash-local -- --redis=redis://127.0.0.1:PORT [--port=PORT] [--host=HOST] [--token=TOKEN]",
    );
    process.exit(2);
  }
  const portFlag = flag(args, "port");
  const port = portFlag === undefined ? 0 : Number(portFlag);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port ${JSON.stringify(portFlag)}: expected 0..65535`);
    process.exit(2);
  }
  const opts: UpstashLocalOptions = { redisUrl, port };
  const host = flag(args, "host");
  if (host) opts.host = host;
  const token = flag(args, "token");
  if (token) opts.token = token;
  const server = await startUpstashLocal(opts);
  console.log(`UPSTASH_REDIS_REST_URL=${server.url}`);
  console.log(`UPSTASH_REDIS_REST_TOKEN=${server.token}`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
