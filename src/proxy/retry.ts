/** Methods whose repetition has the same effect as one request (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
/** Answers that mean "this backend could not handle it now", worth another backend's try. */
const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** nginx/HAProxy rule: after a request may have been sent, retry only what is safe to repeat. */
export function mayRepeat(request: Request): boolean {
  return IDEMPOTENT.has(request.method) || request.headers.has("idempotency-key");
}

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}
