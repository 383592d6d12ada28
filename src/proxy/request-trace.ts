/**
 * The JSON access log: what one request did, filled in as it goes, and handed to the access log
 * once it has ended, that is once its response body has been passed on whole or broken off
 * (bytes_out is counted as the body passes). The access log makes the record from it then
 * (Workers) or a batch later (servers: runtime/access-batch.ts); either way the record says
 * what was true when the request ended. Made only when LOG_FORMAT=json with request logging
 * on; the text format has no record. One object per request, and nothing else per request: the
 * body watcher, the client-abort listener and the ended request are this same object.
 *
 * A JavaScript stream in a body's way costs Workers, Bun and Deno their native body pipe, so a
 * body of declared length that is passed on as it came is left to the runtime, which says how
 * it went in one of two ways (BalancerOptions.responseSent):
 * - a watch that is told once the body has gone, whole or not (Node's 'close' on the response,
 *   Deno's ServeHandlerInfo.completed): the record is written then, with the declared length as
 *   bytes_out (null if it broke off);
 * - "unobserved": the runtime streams the body after the handler has returned and tells no one
 *   when it is done (Workers: the isolate is let go while workerd pumps a fetched body itself;
 *   Bun: its native body pipe, with no per-request hook). Watching the end would take a
 *   JavaScript stream or pipe in every response (workerd: a FixedLengthStream and pipeTo, ~120
 *   µs of CPU a request in the bench, more than the rest of the record's cost; Bun: the counting
 *   stream, ~80 µs), so the record is written when the response is handed over:
 *   `"logged_at": "headers"`, bytes_out the declared length, total_ms the time to that point,
 *   and a client breaking the body off is not seen.
 * A body of unknown length (chunked, re-encoded) is always counted through a stream.
 */

import { declaredLength } from "../shared/declared-length.ts";

/** One line of the access log (README, Operating it). */
export interface AccessRecord {
  readonly time: string;
  readonly request_id: string;
  readonly method: string;
  readonly host: string;
  /** Without the query: it may carry tokens. */
  readonly path: string;
  readonly status: number;
  readonly pool: string | null;
  readonly backend: string | null;
  readonly attempts: number;
  readonly upstream_ms: number | null;
  readonly total_ms: number;
  readonly bytes_in: number;
  /** Null when the server sent a body of declared length and the client broke it off. */
  readonly bytes_out: number | null;
  readonly client_ip: string | null;
  readonly route?: string;
  readonly affinity?: string;
  /** The client went away before the body was passed on whole. */
  readonly aborted?: true;
  /**
   * Written when the response was handed to the runtime, not after its body had gone (a body of
   * declared length on Workers: see above): bytes_out is the declared length.
   */
  readonly logged_at?: "headers";
}

export type AccessSink = (record: AccessRecord) => void;

/** A request that has ended: every field of its record is final. */
export interface EndedRequest {
  record(): AccessRecord;
}

/**
 * Takes each request as it ends. Workers write its record at once (recordEach); the servers
 * gather ended requests and write their records a batch at a time (runtime/access-batch.ts).
 */
export type AccessLog = (ended: EndedRequest) => void;

/** An access log that makes each record as its request ends and hands it to `sink`. */
export const recordEach =
  (sink: AccessSink): AccessLog =>
  (ended) =>
    sink(ended.record());

/**
 * Calls `settled` once the response body has gone: `whole` false when the client broke it off.
 * A callback, not a promise: on Node a promise, its rejection handler and the reactions that
 * wait on it were three more objects and two microtasks per request, for every logged request
 * and every request of a load-aware pool.
 */
export type SentWatch = (settled: (whole: boolean) => void) => void;

/**
 * How the server reports that a response body has gone: a watch (above), or "unobserved" where
 * the runtime cannot say (Workers, Bun).
 */
export type BodySent = SentWatch | "unobserved";

/** What the record needs of the client's request: its signal, read only when a body is streamed. */
export type ClientRequest = Pick<Request, "signal">;

export class RequestTrace implements UnderlyingDefaultSource<Uint8Array>, EndedRequest {
  readonly #startedAt = performance.now();
  readonly #time = Date.now();
  pool: string | undefined;
  route: string | undefined;
  attempts = 0;
  backend: string | undefined;
  /** Time to the answering backend's response headers. */
  upstreamMs: number | undefined;
  bytesIn = 0;
  /** kept, new, moved or held (SessionChoice.outcome). */
  affinity: string | undefined;
  #status = 0;
  #bytesOut = 0;
  #ended = false;
  #endedAt = 0;
  #aborted = false;
  /** The client went away before its response (clientGone()). */
  #gone = false;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** A body left to the server: how many of its bytes went out is not known until it was sent. */
  #uncounted = false;
  /** Written when the response was handed over, its body not watched (file header). */
  #atHeaders = false;
  #signal: AbortSignal | undefined;
  /** An upstream response whose declared length the upstream client read off its head (declared()). */
  #declaredFor: Response | undefined;
  #declaredLength = 0;

  constructor(
    private readonly log: AccessLog,
    readonly requestId: string,
    private readonly method: string,
    private readonly host: string,
    /** Path and query (request-target.ts); the query is cut when written. */
    private readonly target: string,
    private readonly clientIp: string | undefined,
  ) {}

  /** `response`'s body is `length` bytes as it came (ForwardResult.declaredLength): finish() need not read its headers. */
  declared(response: Response, length: number): void {
    this.#declaredFor = response;
    this.#declaredLength = length;
  }

  /**
   * The response as it goes to the client: its body passes through here to be counted, and the
   * record is written when it ends. A response without a body is written now; a 101's when its
   * WebSocket closes (handle-upgrade.ts calls end()). A body of declared length (not
   * re-encoded) is left to the runtime where it reports on it (`sent`; file header).
   */
  finish(response: Response, request: ClientRequest, sent?: BodySent): Response {
    const status = response.status;
    this.#status = status;
    if (status === 101) return response;
    if (this.#gone) {
      this.end(true);
      return response;
    }
    // Neither response.body nor request.signal is read on the way to a body left to the server:
    // on Node each is an object made on first reading (the signal an AbortController per request).
    if (this.method === "HEAD" || status === 204 || status === 205 || status === 304) {
      this.end(false);
      return response;
    }
    const declared = !sent
      ? undefined
      : response === this.#declaredFor
        ? this.#declaredLength
        : declaredLengthOf(response.headers);
    if (declared !== undefined) {
      this.#bytesOut = declared;
      if (sent === "unobserved") {
        this.#atHeaders = true;
        this.end(false);
        return response;
      }
      this.#uncounted = true;
      sent!((whole) => {
        if (whole) this.#uncounted = false;
        this.end(!whole);
      });
      return response;
    }
    if (!response.body) {
      this.end(false);
      return response;
    }
    this.#reader = response.body.getReader();
    this.#watch(request.signal);
    return new Response(new ReadableStream(this), response);
  }

  /** The client went away before its response was ready: finish() writes the record at once, aborted. */
  clientGone(): void {
    this.#gone = true;
  }

  /** workerd drops a body whose client went away without cancelling it: the signal says so. */
  #watch(client: AbortSignal): void {
    if (client.aborted) return;
    this.#signal = client;
    client.addEventListener("abort", this, { once: true });
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await this.#reader!.read();
    } catch (error) {
      this.end(true);
      controller.error(error);
      return;
    }
    if (step.done) {
      this.end(false);
      controller.close();
      return;
    }
    this.#bytesOut += step.value.byteLength;
    controller.enqueue(step.value);
  }

  cancel(reason: unknown): Promise<void> {
    this.end(true);
    return this.#reader!.cancel(reason);
  }

  /** The client's signal fired: it went away mid-body. */
  handleEvent(): void {
    this.end(true);
  }

  /**
   * Ends the request once: the body ended (or broke off), or the WebSocket closed. Its record is
   * made when the access log asks (record()), which on the servers is a batch later: what the
   * record needs is kept, the upstream response let go. The body's reader stays: a stream whose
   * client's signal fired first may still be cancelled, and that must reach the upstream body.
   */
  end(aborted: boolean, status = this.#status): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endedAt = performance.now();
    this.#aborted = aborted;
    this.#status = status;
    this.#signal?.removeEventListener("abort", this);
    this.#signal = undefined;
    this.#declaredFor = undefined;
    this.log(this);
  }

  record(): AccessRecord {
    const status = this.#status;
    const query = this.target.indexOf("?");
    // Optional fields are added in place (no spread objects per request); the key order is the
    // interface's, so every line reads alike.
    const record: { -readonly [K in keyof AccessRecord]: AccessRecord[K] } = {
      time: isoTime(this.#time),
      request_id: this.requestId,
      method: this.method,
      host: this.host,
      path: query < 0 ? this.target : this.target.slice(0, query),
      status,
      pool: this.pool ?? null,
      backend: this.backend ?? null,
      attempts: this.attempts,
      upstream_ms: this.upstreamMs === undefined ? null : round(this.upstreamMs),
      total_ms: round(this.#endedAt - this.#startedAt),
      bytes_in: this.bytesIn,
      bytes_out: this.#uncounted ? null : this.#bytesOut,
      client_ip: this.clientIp ?? null,
    };
    if (this.route !== undefined) record.route = this.route;
    if (this.affinity !== undefined) record.affinity = this.affinity;
    if (this.#aborted) record.aborted = true;
    if (this.#atHeaders) record.logged_at = "headers";
    return record;
  }
}

/** Content-Length of a body passed on as it came (a re-encoded one's length is not its bytes'). */
function declaredLengthOf(headers: Headers): number | undefined {
  const length = headers.get("content-length");
  return length === null ? undefined : declaredLength(length, headers.get("content-encoding"));
}

/** Hundredths of a millisecond are plenty for a log. */
const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Date.prototype.toISOString for a millisecond time, its date and time of day reused within the
 * same second (a busy balancer writes thousands of records a second; only the milliseconds
 * change).
 */
let secondStart = Number.NaN;
let secondPrefix = "";
export function isoTime(ms: number): string {
  const second = ms - (((ms % 1000) + 1000) % 1000);
  if (second !== secondStart) {
    secondStart = second;
    secondPrefix = new Date(second).toISOString().slice(0, -4);
  }
  const millis = ms - second;
  return `${secondPrefix}${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}
