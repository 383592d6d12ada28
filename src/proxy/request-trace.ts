/**
 * The JSON access log: what one request did, filled in as it goes, and written once it has
 * ended, that is once its response body has been passed on whole or broken off (bytes_out is
 * counted as the body passes). Made only when LOG_FORMAT=json with request logging on; the
 * text format has no record. One object per request, and nothing else per request: the body
 * watcher and the client-abort listener are this same object (no closures).
 */

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
}

export type AccessSink = (record: AccessRecord) => void;

/** A runtime's native pass-through for a body of known length, and when it has all gone through. */
export type BodyPipe = (
  body: ReadableStream<Uint8Array>,
  length: number,
) => { readonly body: ReadableStream<Uint8Array>; readonly done: Promise<void> };

export class RequestTrace implements UnderlyingDefaultSource<Uint8Array> {
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
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** A body left to the server: how many of its bytes went out is not known until it was sent. */
  #uncounted = false;
  #signal: AbortSignal | undefined;

  constructor(
    private readonly sink: AccessSink,
    readonly requestId: string,
    private readonly method: string,
    private readonly host: string,
    /** Path and query (request-target.ts); the query is cut when written. */
    private readonly target: string,
    private readonly clientIp: string | undefined,
  ) {}

  /**
   * The response as it goes to the client: its body passes through here to be counted, and the
   * record is written when it ends. A response without a body is written now; a 101's when its
   * WebSocket closes (handle-upgrade.ts calls end()). A JavaScript stream in the body's way
   * costs Workers, Bun and Deno their native body pipe (the bench's least-connections rows pay
   * it too), so a body of declared length (not re-encoded) is left to the runtime where it can
   * say when it has gone: the server's own signal (`sent`), or a native pipe of that length
   * (`pipe`); the record then counts the declared bytes (none known if the client broke off).
   */
  finish(response: Response, client: AbortSignal, sent?: Promise<void>, pipe?: BodyPipe): Response {
    this.#status = response.status;
    if (!response.body || response.status === 101) {
      if (response.status !== 101) this.end(false);
      return response;
    }
    const declared = sent || pipe ? declaredLength(response.headers) : undefined;
    if (declared !== undefined) {
      let done = sent;
      if (!done) {
        const piped = pipe!(response.body, declared);
        done = piped.done;
        response = new Response(piped.body, response);
        this.#watch(client);
      }
      this.#uncounted = true;
      done.then(
        () => {
          this.#bytesOut = declared;
          this.#uncounted = false;
          this.end(false);
        },
        () => this.end(true),
      );
      return response;
    }
    this.#reader = response.body.getReader();
    this.#watch(client);
    return new Response(new ReadableStream(this), response);
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

  /** Writes the record once: the body ended (or broke off), or the WebSocket closed. */
  end(aborted: boolean, status = this.#status): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener("abort", this);
    this.sink(this.#record(status, aborted));
  }

  #record(status: number, aborted: boolean): AccessRecord {
    const query = this.target.indexOf("?");
    return {
      time: new Date(this.#time).toISOString(),
      request_id: this.requestId,
      method: this.method,
      host: this.host,
      path: query < 0 ? this.target : this.target.slice(0, query),
      status,
      pool: this.pool ?? null,
      backend: this.backend ?? null,
      attempts: this.attempts,
      upstream_ms: this.upstreamMs === undefined ? null : round(this.upstreamMs),
      total_ms: round(performance.now() - this.#startedAt),
      bytes_in: this.bytesIn,
      bytes_out: this.#uncounted ? null : this.#bytesOut,
      client_ip: this.clientIp ?? null,
      ...(this.route === undefined ? {} : { route: this.route }),
      ...(this.affinity === undefined ? {} : { affinity: this.affinity }),
      ...(aborted ? { aborted: true as const } : {}),
    };
  }
}

/** Content-Length of a body passed on as it came (a re-encoded one's length is not its bytes'). */
function declaredLength(headers: Headers): number | undefined {
  const length = headers.get("content-length");
  if (length === null || !/^\d{1,15}$/.test(length)) return undefined;
  const encoding = headers.get("content-encoding");
  return encoding === null || encoding === "identity" ? Number(length) : undefined;
}

/** Hundredths of a millisecond are plenty for a log. */
const round = (ms: number) => Math.round(ms * 100) / 100;
