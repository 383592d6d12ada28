// Log lines on Node, Bun and Deno are written without blocking the request that logged them:
// console.log to a pipe or a file is a synchronous write on Node, and a slow reader of stdout
// would otherwise stall every request. Lines are buffered and written asynchronously, a batch
// at a time: while one write is under way the next lines gather, so a busy balancer makes
// fewer, larger writes. Memory is bounded: past MAX_PENDING characters waiting, lines are
// dropped and counted rather than held. Each entry point picks its runtime's writer at start;
// shutdown and exit flush what is left.
import process from "node:process";
import { AccessBatch, type AccessLineTiming } from "./access-batch.ts";

export interface LineWriter {
  /** Queues `text` (a whole line, newline included); never blocks. */
  write(text: string): void;
  /** Resolves once everything queued so far has been written. */
  flush(): Promise<void>;
  /** Writes what is queued, synchronously (process exit). */
  flushSync(): void;
}

/** Past this many characters waiting (stdout not keeping up), new lines are dropped. */
export const MAX_PENDING = 8 * 1024 * 1024;

/**
 * Lines gather for at most this long, or until this many characters wait, before one write takes
 * them all (nginx's `access_log ... buffer= flush=`): under load a write per request, or per
 * event-loop turn, cost the request line 6-20 µs of CPU on Bun (npm run bench, the -log rows).
 */
export const HAND_OVER_MS = 20;
// Below V8's large-object size (128 KiB): a text past it costs Node several µs a line (access-batch.ts).
export const HAND_OVER_CHARS = 32 * 1024;

/**
 * The batching writer for Bun and Deno, on an asynchronous stdout write that takes the batch as
 * a string (each runtime encodes it its own way). (Node uses sonic-boom, pino's writer, which
 * does the same on fs.write with EAGAIN handled.)
 */
export class BatchedWriter implements LineWriter {
  #pending: string[] = [];
  #pendingChars = 0;
  #writing: Promise<void> | undefined;
  /** Ends the current gathering early (enough waiting, or a flush). */
  #handOver: (() => void) | undefined;
  /** Lines dropped because stdout did not keep up. */
  dropped = 0;

  constructor(
    private readonly sink: (text: string) => Promise<unknown>,
    private readonly syncSink: (text: string) => void,
  ) {}

  write(text: string): void {
    if (this.#pendingChars + text.length > MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.#pending.push(text);
    this.#pendingChars += text.length;
    this.#writing ??= this.#drain();
    if (this.#pendingChars >= HAND_OVER_CHARS) this.#handOver?.();
  }

  flush(): Promise<void> {
    this.#handOver?.();
    return this.#writing ?? Promise.resolve();
  }

  flushSync(): void {
    const batch = this.#take();
    if (batch) this.syncSink(batch);
  }

  async #drain(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HAND_OVER_MS);
      this.#handOver = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#handOver = undefined;
    for (let batch = this.#take(); batch; batch = this.#take()) {
      try {
        await this.sink(batch);
      } catch {
        // stdout is gone (a closed pipe): nothing to do but drop what was meant for it.
      }
    }
    this.#writing = undefined;
  }

  #take(): string | undefined {
    if (this.#pending.length === 0) return undefined;
    const text = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join("");
    this.#pending = [];
    this.#pendingChars = 0;
    return text;
  }
}

/** Before an entry point picks one (tests, scripts): console.log, as before. */
const consoleWriter: LineWriter = {
  write: (text) => console.log(text.endsWith("\n") ? text.slice(0, -1) : text),
  flush: () => Promise.resolve(),
  flushSync: () => undefined,
};

let current: LineWriter = consoleWriter;

/**
 * Makes `writer` the destination of every log line from now on; flushed at process exit.
 * `accessLines`: when the JSON access log makes a request's line (access-batch.ts).
 */
export function useLineWriter(writer: LineWriter, accessLines: AccessLineTiming): void {
  current = writer;
  accessBatch.timing = accessLines;
  process.on("exit", () => {
    try {
      accessBatch.writeOut();
      writer.flushSync();
    } catch {
      // Exiting anyway.
    }
  });
}

/**
 * Any other line first writes out the access lines waiting, so the output keeps the order in
 * which things happened (a request served before a state change, or before "shutdown complete",
 * is logged before it). Such lines are rare; the batch stays the rule under load.
 */
export function writeLine(line: string): void {
  accessBatch.writeOut();
  current.write(`${line}\n`);
}

/** LOG_FORMAT=json: one object per line (the access lines waiting first, as writeLine). */
export function writeRecord(record: object): void {
  accessBatch.writeOut();
  current.write(`${JSON.stringify(record)}\n`);
}

/** LOG_FORMAT=json's access log: a line per request, written in batches (access-batch.ts). */
const accessBatch = new AccessBatch((text) => current.write(text), HAND_OVER_MS);
export const writeAccessLog = accessBatch.log;

/** Flushes the log (at most `limitMs`: stdout may be what is stuck), then calls `exit`. */
export function flushThen(exit: () => void, limitMs = 1_000): void {
  const timer = setTimeout(exit, limitMs);
  accessBatch.writeOut();
  void current.flush().finally(() => {
    clearTimeout(timer);
    exit();
  });
}
