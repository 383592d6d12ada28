/**
 * Graceful shutdown for the server runtimes (Node, Bun, Deno). On SIGTERM or SIGINT: stop
 * accepting connections, let requests in flight finish (at most `timeoutMs`), close whatever is
 * left, publish this instance's counters a last time, exit 0. A second signal exits at once.
 * The runtime supplies only how to listen for a signal and how to stop its server.
 */

export type ShutdownSignal = "SIGTERM" | "SIGINT";

export interface ShutdownOptions {
  /** Registers a handler for one signal (process.on, Deno.addSignalListener). */
  readonly onSignal: (signal: ShutdownSignal, handler: () => void) => void;
  /** Stops accepting; resolves once every request in flight has been answered. */
  readonly drain: () => Promise<void>;
  /** Drops the connections still open after the timeout. */
  readonly forceClose: () => void | Promise<void>;
  /** Publishes counters to the store (Balancer.flush). */
  readonly flush: () => Promise<void>;
  /** Stops timers and other background work. */
  readonly stopBackground?: () => void;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
  readonly exit: (code: number) => void;
}

/** Longest wait for the final flush: the store may be the thing that is down. */
const FLUSH_LIMIT_MS = 5_000;

export function installShutdown(options: ShutdownOptions): {
  readonly shuttingDown: () => boolean;
  shutdown(signal: string): Promise<void>;
} {
  let started = false;
  const shutdown = async (signal: string) => {
    if (started) {
      options.log(`${signal} again: exiting now`);
      options.exit(1);
      return;
    }
    started = true;
    options.log(`${signal}: shutting down; in-flight requests have up to ${options.timeoutMs} ms`);
    options.stopBackground?.();
    const drained = await within(
      options.drain().then(() => true),
      options.timeoutMs,
      false,
    );
    if (!drained) {
      options.log(`shutdown: requests still in flight after ${options.timeoutMs} ms; closing their connections`);
      await within(
        Promise.resolve(options.forceClose()).then(() => true),
        1_000,
        false,
      );
    }
    const flushed = await within(
      options.flush().then(
        () => true,
        (error: unknown) => {
          options.log(`shutdown: flushing counters failed: ${(error as Error).message}`);
          return true;
        },
      ),
      FLUSH_LIMIT_MS,
      false,
    );
    if (!flushed) options.log(`shutdown: flushing counters took over ${FLUSH_LIMIT_MS} ms; giving up on it`);
    options.log("shutdown complete");
    options.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    options.onSignal(signal, () => void shutdown(signal));
  }
  return { shuttingDown: () => started, shutdown };
}

/** `work`'s value if it settles within `ms`, else `fallback`; rejections count as fallback. */
function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([work.catch(() => fallback), timeout]).finally(() => clearTimeout(timer));
}
