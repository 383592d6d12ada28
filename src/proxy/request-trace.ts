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
  readonly bytes_out: number;
  readonly client_ip: string | null;
  readonly route?: string;
  readonly affinity?: string;
  /** The client went away before the body was passed on whole. */
  readonly aborted?: true;
}

export type AccessSink = (record: AccessRecord) => void;

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
   * record is written when it ends. A response without a body is written now; so is a 101, whose
   * WebSocket ends in handle-upgrade.ts (end()).
   */
  finish(response: Response, client: AbortSignal): Response {
    this.#status = response.status;
    if (!response.body || response.status === 101) {
      if (response.status !== 101) this.end(false);
      return response;
    }
    this.#reader = response.body.getReader();
    // workerd drops a body whose client went away without cancelling it: the signal says so.
    if (!client.aborted) {
      this.#signal = client;
      client.addEventListener("abort", this, { once: true });
    }
    return new Response(new ReadableStream(this, { highWaterMark: 0 }), response);
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
      bytes_out: this.#bytesOut,
      client_ip: this.clientIp ?? null,
      ...(this.route === undefined ? {} : { route: this.route }),
      ...(this.affinity === undefined ? {} : { affinity: this.affinity }),
      ...(aborted ? { aborted: true as const } : {}),
    };
  }
}

/** Hundredths of a millisecond are plenty for a log. */
const round = (ms: number) => Math.round(ms * 100) / 100;
