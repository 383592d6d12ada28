/**
 * A retry budget in the manner of Finagle's and gRPC's: every successful response earns
 * `ratio` of a retry (20% by default), up to a reserve of `reserve` retries; every retry after
 * the request may have reached a backend spends one. Over time retries stay within 20% of
 * what succeeds, a quiet instance still has its reserve, and when every backend fails nothing
 * is earned, so retries stop after the reserve instead of multiplying the outage.
 */
export class RetryBudget {
  #tokens: number;

  constructor(
    private readonly ratio = 0.2,
    private readonly reserve = 10,
  ) {
    this.#tokens = reserve;
  }

  earn(): void {
    if (this.#tokens < this.reserve) this.#tokens = Math.min(this.reserve, this.#tokens + this.ratio);
  }

  /** Spends one retry if there is one. */
  trySpend(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  get balance(): number {
    return this.#tokens;
  }
}
