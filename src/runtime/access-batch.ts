// The JSON access log on Node, Bun and Deno: requests are gathered as they end, and their lines
// made and written a batch at a time, one interval after the first of a batch (log-writer.ts's
// HAND_OVER_MS) or once BATCH_RECORDS have ended (nginx's `access_log ... buffer= flush=` holds
// its lines the same way). Lines are up to an interval later than other log lines; each
// carries its request's own time.
//
// Why not a line as each request ends: on Node that work lands in the response's 'close'
// callback, just after the socket write, where the same record and JSON.stringify cost several
// times what they cost in a loop. Node's side-by-side pair in `npm run bench` (twenty A B B A
// blocks, this machine): 0.869 x the req/s without the log (+11.8 µs a request) with a line
// at 'close', 0.930 x (+5.9 µs) gathered here. A request waits as its RequestTrace, which has
// let go of the upstream response by then.
import type { AccessLog, EndedRequest } from "../proxy/request-trace.ts";

/** At most this many ended requests wait: a batch is written when it is this long. */
export const BATCH_RECORDS = 512;

export class AccessBatch {
  #ended: EndedRequest[] = [];
  #scheduled = false;

  /** `write` takes the batch's lines as one text (a LineWriter's write). */
  constructor(
    private readonly write: (text: string) => void,
    private readonly intervalMs: number,
  ) {}

  readonly log: AccessLog = (ended) => {
    this.#ended.push(ended);
    if (this.#ended.length >= BATCH_RECORDS) this.writeOut();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // Not unref'd: Deno's timers are numbers. It keeps a process up one interval at most.
      setTimeout(this.#onTimer, this.intervalMs);
    }
  };

  /** Writes every line waiting (the timer, a full batch, a flush before exit). */
  writeOut(): void {
    const batch = this.#ended;
    if (batch.length === 0) return;
    this.#ended = [];
    let text = "";
    for (const ended of batch) text += `${JSON.stringify(ended.record())}\n`;
    this.write(text);
  }

  readonly #onTimer = () => {
    this.#scheduled = false;
    this.writeOut();
  };
}
