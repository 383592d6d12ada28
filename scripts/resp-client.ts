// Connections to redis-server: one TCP connection with in-order reply matching, redis:// URL
// parsing, and the pool upstash-local serves HTTP requests from (one connection per request).
import { connect as netConnect, type Socket } from "node:net";
import { ErrorReply, ProtocolError, ReplyReader, encodeCommand, type Reply } from "./resp.ts";

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

export interface RedisTarget {
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
export class RedisPool {
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

/** Rejects (and runs `onTimeout`) when `promise` has not settled within `ms`; 0 = no limit. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
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
