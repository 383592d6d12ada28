// upstash-local's connections to redis-server, through ioredis.
//
// Most requests share one connection: ioredis writes a pipeline or a MULTI ... EXEC in one go,
// so the commands of one request never interleave with another's. A request whose commands
// leave state on their connection (SELECT, WATCH, CLIENT, ...) or may block on purpose (BLPOP,
// ...) gets a connection of its own, closed afterwards, so it neither changes nor stalls the
// shared one.
//
// ioredis options, chosen so that REST clients see a failing redis-server as it happens (the
// tests stop, kill and SIGSTOP it and expect a prompt 503, then service on the next request):
// - enableOfflineQueue: false. A command sent while there is no connection fails at once (503)
//   instead of waiting in a queue for a server that may never come back.
// - retryStrategy: () => null, lazyConnect: true. No reconnect loop with backoff in the
//   background: the next request connects, so a restarted redis-server is used by the very
//   next request, and a stopped one answers that request with 503 straight away.
// - maxRetriesPerRequest: 0, autoResendUnfulfilledCommands: false. A command whose reply was
//   lost with the connection fails; it is never sent again, which could run an INCR twice.
// - commandTimeout: commandTimeoutMs, except on a blocking request's own connection. A hung
//   (SIGSTOPped) server turns into 503 after that time rather than a request held for ever.
// - stringNumbers: true. Integer replies keep their exact digits (64-bit counters do not fit a
//   JS number) and, being strings while bulk and status replies are Buffers (callBuffer), stay
//   distinguishable from them.
// - enableReadyCheck: false. No INFO round trip before the first command: a hung server fails
//   that command after commandTimeout (not after the ready check plus ioredis's 2 s wait for the
//   socket to close), and a server still loading its data answers LOADING, as the hand-written
//   client let it.
// - connectTimeout 5 s and TCP keep-alive after 10 s, as the hand-written client had.
import { type ChainableCommander, Redis, type RedisOptions, ReplyError } from "ioredis";
import { connectionPolicy } from "./upstash-protocol.ts";

/**
 * A reply as ioredis's callBuffer gives it with stringNumbers: bulk and status replies are
 * Buffers, integers their decimal digits, a Redis error inside an array an Error.
 */
export type Reply = null | Buffer | string | Error | Reply[];

/** Redis could not be reached or did not answer in time (the REST answer is 503). */
export class RedisUnavailable extends Error {
  override name = "RedisUnavailable";
}

/** Runs one request's commands on a connection fit for them. */
export interface RedisCommands {
  /** One command; a Redis error is returned as an Error reply, not thrown. */
  single(command: readonly string[]): Promise<Reply>;
  /** Commands in order; one reply (or Redis error) each. */
  pipeline(commands: readonly (readonly string[])[]): Promise<Reply[]>;
  /** Commands inside MULTI/EXEC: their replies, or the Redis error that discarded them all. */
  transaction(commands: readonly (readonly string[])[]): Promise<Reply[] | Error>;
}

/** An error Redis answered with (as opposed to a connection that failed). */
function isRedisError(error: unknown): error is Error {
  return error instanceof ReplyError;
}

// ioredis reshapes the reply of a command named exactly "hgetall" into an object (its only
// reply transformer in 5.x); the REST protocol answers with Redis's reply as it is. Redis
// ignores the case of command names, so those go out upper-case, which ioredis leaves alone.
// Other names go out as the client wrote them: Redis quotes an unknown one in its error.
const RESHAPED_BY_IOREDIS = new Set(["hgetall"]);
const wireName = (name: string): string => (RESHAPED_BY_IOREDIS.has(name) ? name.toUpperCase() : name);

function queueCommands(batch: ChainableCommander, commands: readonly (readonly string[])[]): void {
  for (const [name, ...args] of commands) batch.callBuffer(wireName(name!), ...args);
}

/** The options every upstash-local connection uses; see the header for why. */
function connectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    stringNumbers: true,
    enableReadyCheck: false,
    connectTimeout: 5_000,
    keepAlive: 10_000,
    // A request with connection state opens a connection for itself: no CLIENT SETINFO round
    // trips before its first command.
    disableClientInfo: true,
    ...(commandTimeoutMs > 0 ? { commandTimeout: commandTimeoutMs } : {}),
  };
}

/** Refuses what is not redis://[user:password@]host:port[/db] before ioredis guesses at it. */
export function checkRedisUrl(redisUrl: string): void {
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch {
    throw new Error(`invalid redis URL ${JSON.stringify(redisUrl)}: expected redis://host:port`);
  }
  if (url.protocol !== "redis:") {
    throw new Error(`unsupported redis URL scheme ${JSON.stringify(url.protocol)}: expected redis://`);
  }
  const db = url.pathname.replace(/^\//, "");
  if (db && !/^\d+$/.test(db)) throw new Error(`invalid database ${JSON.stringify(db)} in redis URL`);
}

export interface RedisConnectionsOptions {
  /** Connections at most, the shared one included; requests needing their own wait beyond. */
  maxConnections: number;
  /** 0 = no limit. */
  commandTimeoutMs: number;
}

export class RedisConnections {
  private readonly shared: Redis;
  private sharedConnecting: Promise<void> | undefined;
  /** ioredis reports why a connection failed as an event; the request wants the reason. */
  private readonly lastError = new WeakMap<Redis, Error>();
  private readonly ownConnections = new Set<Redis>();
  private ownSlotsTaken = 0;
  private readonly waitingForSlot: { resolve(): void; reject(error: Error): void }[] = [];
  private closed = false;

  constructor(
    private readonly redisUrl: string,
    private readonly options: RedisConnectionsOptions,
  ) {
    checkRedisUrl(redisUrl);
    this.shared = this.open(options.commandTimeoutMs);
  }

  private open(commandTimeoutMs: number): Redis {
    const redis = new Redis(this.redisUrl, connectionOptions(commandTimeoutMs));
    // The failure reaches the request that meets it; unheard, ioredis would also log it.
    redis.on("error", (error: Error) => this.lastError.set(redis, error));
    return redis;
  }

  private unavailable(redis: Redis, error: unknown): RedisUnavailable {
    const message = error instanceof Error ? error.message : String(error);
    // ioredis's wording for its commandTimeout; the REST clients' wording predates it.
    if (message === "Command timed out") {
      return new RedisUnavailable(`redis did not answer within ${this.options.commandTimeoutMs} ms`);
    }
    // "Connection is closed." says less than the socket error behind it (ECONNREFUSED, ...).
    return new RedisUnavailable(this.lastError.get(redis)?.message ?? message);
  }

  private async connect(redis: Redis): Promise<void> {
    if (this.closed) throw new RedisUnavailable("upstash-local is closing");
    this.lastError.delete(redis);
    try {
      await redis.connect();
    } catch (error) {
      throw this.unavailable(redis, error);
    }
  }

  private async sharedConnection(): Promise<Redis> {
    if (this.shared.status !== "ready") {
      this.sharedConnecting ??= this.connect(this.shared).finally(() => {
        this.sharedConnecting = undefined;
      });
      await this.sharedConnecting;
    }
    return this.shared;
  }

  private async takeOwnSlot(): Promise<void> {
    if (this.closed) throw new RedisUnavailable("upstash-local is closing");
    if (this.ownSlotsTaken < Math.max(this.options.maxConnections - 1, 1)) {
      this.ownSlotsTaken++;
      return;
    }
    await new Promise<void>((resolve, reject) => this.waitingForSlot.push({ resolve, reject }));
  }

  /** A freed slot passes straight to the next waiter, so the count stays exact. */
  private releaseOwnSlot(): void {
    const next = this.waitingForSlot.shift();
    if (next) next.resolve();
    else this.ownSlotsTaken--;
  }

  /** Runs `work` on the shared connection, or on one of its own when `commands` need that. */
  private async withConnection<T>(
    commands: readonly (readonly string[])[],
    work: (redis: Redis) => Promise<T>,
  ): Promise<T> {
    const { ownConnection, blocking } = connectionPolicy(commands);
    const attempt = (redis: Redis): Promise<T> =>
      work(redis).catch((error: unknown) => {
        throw isRedisError(error) ? error : this.unavailable(redis, error);
      });
    if (!ownConnection) return attempt(await this.sharedConnection());

    await this.takeOwnSlot();
    const redis = this.open(blocking ? 0 : this.options.commandTimeoutMs);
    this.ownConnections.add(redis);
    try {
      await this.connect(redis);
      return await attempt(redis);
    } finally {
      redis.disconnect();
      this.ownConnections.delete(redis);
      this.releaseOwnSlot();
    }
  }

  readonly commands: RedisCommands = {
    single: (command) =>
      this.withConnection([command], (redis) => {
        const [name, ...args] = command;
        return redis.callBuffer(wireName(name!), ...args) as Promise<Reply>;
      }).catch((error: unknown) => {
        if (isRedisError(error)) return error;
        throw error;
      }),

    pipeline: (commands) =>
      this.withConnection(commands, async (redis) => {
        const pipeline = redis.pipeline();
        queueCommands(pipeline, commands);
        const results = (await pipeline.exec()) ?? [];
        return results.map(([error, reply]) => {
          if (error && !isRedisError(error)) throw error;
          return (error ?? reply) as Reply;
        });
      }),

    transaction: (commands) =>
      this.withConnection(commands, async (redis) => {
        const transaction = redis.multi();
        queueCommands(transaction, commands);
        try {
          const results = await transaction.exec();
          if (!results) return new Error("EXECABORT transaction aborted");
          return results.map(([error, reply]) => (error ?? reply) as Reply);
        } catch (error) {
          if (!isRedisError(error)) throw error;
          // EXECABORT: a command was refused while queueing, so nothing ran. ioredis keeps the
          // queueing errors, which say why.
          const queueing = (error as { previousErrors?: unknown[] }).previousErrors?.find(isRedisError);
          return queueing ?? error;
        }
      }),
  };

  close(): void {
    this.closed = true;
    this.shared.disconnect();
    for (const redis of this.ownConnections) redis.disconnect();
    for (const waiter of this.waitingForSlot.splice(0)) {
      waiter.reject(new RedisUnavailable("upstash-local is closing"));
    }
  }
}

/** One PING on a fresh connection: true when redis answers PONG. */
export async function pingRedis(redisUrl: string, timeoutMs = 500): Promise<boolean> {
  const redis = new Redis(redisUrl, {
    ...connectionOptions(timeoutMs),
    connectTimeout: timeoutMs,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
