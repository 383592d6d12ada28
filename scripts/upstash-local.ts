// A small server that speaks the Upstash Redis REST protocol, as @upstash/redis 1.39.0 uses it,
// in front of a real redis-server. For local development and tests only.
//
//   npm run upstash-local -- --redis=redis://127.0.0.1:6380 --port=8079 --token=secret
//
// The protocol itself is described (and implemented) in upstash-protocol.ts; Redis connections
// are in resp-client.ts, the RESP wire format in resp.ts. This file is the HTTP server and CLI.
//
// Redis replies are read as Buffers (binary safe); without base64 they become UTF-8 strings (an
// invalid sequence turns into U+FFFD, like Upstash). Each HTTP request takes one connection from
// a pool for its whole duration, so the commands of one pipeline stay in order and MULTI/EXEC is
// never interleaved with another request's commands.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { pathToFileURL } from "node:url";
import { RedisConnectionError, RedisPool, parseRedisUrl, withTimeout } from "./resp-client.ts";
import {
  BadRequest,
  answerMultiExec,
  answerPipeline,
  answerSingle,
  connectionPolicy,
  errorBody,
  toCommand,
  toCommandList,
  type Answer,
} from "./upstash-protocol.ts";
import type { Reply } from "./resp.ts";

// The API this module has always exported (tests and redis-local.ts import it from here).
export { ErrorReply, IntegerReply, StatusReply, type Reply } from "./resp.ts";
export { RedisConnection, RedisConnectionError, parseRedisUrl } from "./resp-client.ts";

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
    const { reusable, blocking } = connectionPolicy(commands);
    const timeout = blocking ? 0 : commandTimeoutMs;
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
          return await answerSingle(run, command, base64);
        }
        commands = toCommandList(parsed);
        return path === "/pipeline"
          ? await answerPipeline(run, commands, base64)
          : await answerMultiExec(run, commands, base64);
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

/** `--name=value` or `--name value` from a command line. */
export function flag(args: readonly string[], name: string): string | undefined {
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
