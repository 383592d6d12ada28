// The JSON access log on Node, Bun and Deno: lines are gathered and written a batch at a time,
// one interval after the first of a batch (log-writer.ts's HAND_OVER_MS) or once BATCH_RECORDS
// have ended (nginx's `access_log ... buffer= flush=` holds its lines the same way). Lines are
// up to an interval later than other log lines; each carries its request's own time.
//
// When a request's line is made depends on where the runtime ends it (AccessLineTiming):
// - "at-end" (Bun, Deno): as the request ends, which there is at the response's hand-over or
//   on the runtime's word in the request's own promise chain, while its strings and trace are
//   still in the CPU's cache. Made a batch later, the first JSON.stringify of a record cost Bun
//   1.07 µs against 0.33 µs for a second one of the same record (measured in the server), and
//   the log +6.8 µs a request against +4.8 µs made at once (servers pinned, A B B A turns).
// - "in-batch" (Node): the request ends in the response's 'close' callback, after the socket
//   write, where the same record and JSON.stringify cost more than together in the batch (+6.8
//   µs a request against +5.4 µs, same turns). The request waits as its RequestTrace, which has
//   let go of the upstream response by then.
// Either way a write takes a whole batch: a line handed to Node's writer as each request ended
// cost Node 0.869 x the req/s without the log (npm run bench, side by side), 0.930 x batched.
import type { AccessLog, EndedRequest } from "../proxy/request-trace.ts";

/**
 * At most this many ended requests wait: a batch is written when it is this long. Its text stays
 * well under 128 KiB (lines of ~350 bytes), past which V8 allocates a string in its large-object
 * space, the likely reason why batches of 512 (~180 KB texts) cost Node +11-14 µs a request
 * against +5-9 µs for batches of 64 or 300 (~105 KB; two processes a variant, servers pinned,
 * A B B A turns).
 */
export const BATCH_RECORDS = 128;

/** When a request's access line is made: as it ends, or when its batch is written (file header). */
export type AccessLineTiming = "at-end" | "in-batch";

export class AccessBatch {
  /** Lines made at end, and requests whose line is made when the batch is written. */
  #waiting: (string | EndedRequest)[] = [];
  #scheduled = false;
  timing: AccessLineTiming = "in-batch";

  /** `write` takes the batch's lines as one text (a LineWriter's write). */
  constructor(
    private readonly write: (text: string) => void,
    private readonly intervalMs: number,
  ) {}

  readonly log: AccessLog = (ended) => {
    this.#waiting.push(this.timing === "at-end" ? lineOf(ended) : ended);
    if (this.#waiting.length >= BATCH_RECORDS) this.writeOut();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // Not unref'd: Deno's timers are numbers. It keeps a process up one interval at most.
      setTimeout(this.#onTimer, this.intervalMs);
    }
  };

  /** Writes every line waiting (the timer, a full batch, a flush before exit). */
  writeOut(): void {
    const waiting = this.#waiting;
    if (waiting.length === 0) return;
    this.#waiting = [];
    let text = "";
    for (const entry of waiting) text += `${typeof entry === "string" ? entry : lineOf(entry)}\n`;
    this.write(text);
  }

  readonly #onTimer = () => {
    this.#scheduled = false;
    this.writeOut();
  };
}

const lineOf = (ended: EndedRequest): string => JSON.stringify(ended.record());
