/** Methods whose repetition has the same effect as one request (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
/** Answers that mean "this backend could not handle it now", worth another backend's try. */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** nginx/HAProxy rule: after a request may have been sent, retry only what is safe to repeat. */
export function mayRepeat(request: Request): boolean {
  return IDEMPOTENT.has(request.method) || request.headers.has("idempotency-key");
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

/**
 * Envoy's retry budget: retries in flight may be at most `ratio` of the requests in flight on
 * their first attempt, but a few are always allowed so a quiet instance still retries. Under an
 * outage this caps the extra load at `ratio`; connection failures (nothing was sent) bypass it.
 */
export class RetryBudget {
  #firstAttempts = 0;
  #retries = 0;

  constructor(
    private readonly ratio = 0.2,
    private readonly minConcurrent = 2,
  ) {}

  /** A request entered its first attempt; call the result when that attempt ends. */
  startFirst(): () => void {
    this.#firstAttempts++;
    let done = false;
    return () => {
      if (!done) (done = true), this.#firstAttempts--;
    };
  }

  /** Takes a retry slot if the budget allows; call the result when the retry attempt ends. */
  tryRetry(): (() => void) | undefined {
    const allowed = Math.max(this.minConcurrent, this.ratio * this.#firstAttempts);
    if (this.#retries + 1 > allowed) return undefined;
    this.#retries++;
    let done = false;
    return () => {
      if (!done) (done = true), this.#retries--;
    };
  }

  get inFlight(): { firstAttempts: number; retries: number } {
    return { firstAttempts: this.#firstAttempts, retries: this.#retries };
  }
}
