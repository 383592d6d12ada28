/**
 * A retry budget in the manner of Finagle's and gRPC's: every successful response earns
 * `ratio` of a retry (20% by default), up to a reserve of `reserve` retries; every retry after
 * the request may have reached a backend spends one. Over time retries stay within 20% of
 * what succeeds, a quiet instance still has its reserve, and when every backend fails nothing
 * is earned, so retries stop after the reserve instead of multiplying the outage.
 */
export class RetryBudget {
  /**
   * In thousandths of a retry: 0.2 added five times in floating point is 0.9999999999999999,
   * one short of a retry, so the arithmetic stays in whole numbers.
   */
  #milli: number;
  readonly #earnMilli: number;
  readonly #reserveMilli: number;

  constructor(ratio = 0.2, reserve = 10) {
    this.#earnMilli = Math.round(ratio * 1000);
    this.#reserveMilli = Math.round(reserve * 1000);
    this.#milli = this.#reserveMilli;
  }

  earn(): void {
    this.#milli = Math.min(this.#reserveMilli, this.#milli + this.#earnMilli);
  }

  /** Spends one retry if there is one. */
  trySpend(): boolean {
    if (this.#milli < 1000) return false;
    this.#milli -= 1000;
    return true;
  }

  get balance(): number {
    return this.#milli / 1000;
  }
}
