// A small server that speaks the Upstash Redis REST protocol, as @upstash/redis 1.39.0 uses it,
// in front of a real redis-server. For local development and tests only.
//
//   npm run upstash-local -- --redis=redis://127.0.0.1:6380 --port=8079 --token=secret
//
// The protocol itself is described (and implemented) in upstash-protocol.ts; the connections to
// Redis (ioredis, and why it is configured as it is) in redis-connections.ts. This file is the
// HTTP server and CLI.
//
// Redis replies are read as Buffers (binary safe); without base64 they become UTF-8 strings (an
// invalid sequence turns into U+FFFD, like Upstash).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { RedisConnections, RedisUnavailable } from "./redis-connections.ts";
import {
  type Answer,
  answerMultiExec,
  answerPipeline,
  answerSingle,
  BadRequest,
  errorBody,
  toCommand,
  toCommandList,
} from "./upstash-protocol.ts";

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
  /**
   * Connections to Redis at most (default 32). Most requests share one; those whose commands
   * need a connection of their own (SELECT, WATCH, BLPOP, ...) wait for one beyond that.
   */
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
  const host = options.host ?? "127.0.0.1";
  const token = options.token ?? randomBytes(24).toString("base64url");
  const commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const connections = new RedisConnections(options.redisUrl, {
    maxConnections: options.maxConnections ?? 32,
    commandTimeoutMs,
  });
  const redis = connections.commands;
  const stats = { requests: {} as Record<string, number> };

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
          return await answerSingle(redis, command, base64);
        }
        commands = toCommandList(parsed);
        return path === "/pipeline"
          ? await answerPipeline(redis, commands, base64)
          : await answerMultiExec(redis, commands, base64);
      } catch (error) {
        if (error instanceof BadRequest) return { status: 400, body: errorBody(error.message) };
        if (error instanceof RedisUnavailable) {
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
        connections.close();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE =
  "usage: npm run upstash-local -- --redis=redis://127.0.0.1:PORT [--port=PORT] [--host=HOST] [--token=TOKEN]";

function cliOptions(argv: string[]): UpstashLocalOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      token: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const redisUrl = values.redis ?? process.env.REDIS_URL;
  if (!redisUrl) throw new Error("--redis (or REDIS_URL) is required");
  const opts: UpstashLocalOptions = { redisUrl, port: parsePort(values.port) ?? 0 };
  if (values.host) opts.host = values.host;
  if (values.token) opts.token = values.token;
  return opts;
}

/** A --port value: undefined when absent, else an integer from 0 to 65535. */
export function parsePort(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new Error(`invalid --port ${JSON.stringify(text)}: expected 0..65535`);
  }
  return port;
}

async function main(): Promise<void> {
  let opts: UpstashLocalOptions;
  try {
    opts = cliOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
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
