/**
 * This instance's counters for one pool. Cheap on the hot path (one Map increment per attempt);
 * Prometheus sums them across instances. On Workers a scrape reaches one isolate, so shared
 * figures (health, in-flight, store) are the dependable ones there.
 */
export class PoolMetrics {
  /** backend \u0000 status class ("2xx".."5xx") -> responses passed to clients */
  readonly responses = new Map<string, number>();
  /** backend \u0000 failure kind -> attempts that failed */
  readonly failures = new Map<string, number>();
  /** backend -> the last failed attempt as this instance saw it (for /_lb/status, not clients) */
  readonly lastFailure = new Map<string, { readonly kind: string; readonly reason: string; readonly at: number }>();
  retries = 0;
  noBackend = 0;
  /** backend -> requests of affinity sessions it served, per second over the last minute */
  readonly affinityServed = new Map<string, MinuteCounter>();

  response(backend: string, status: number): void {
    bump(this.responses, `${backend}\u0000${Math.floor(status / 100)}xx`);
  }

  /** A request of an existing affinity session reached its own backend. */
  affinity(backend: string, now = Date.now()): void {
    let counter = this.affinityServed.get(backend);
    if (!counter) {
      counter = new MinuteCounter();
      this.affinityServed.set(backend, counter);
    }
    counter.add(now);
  }

  failure(backend: string, kind: string, reason: string): void {
    bump(this.failures, `${backend}\u0000${kind}`);
    this.lastFailure.set(backend, { kind, reason, at: Date.now() });
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Events per second for the last 60 seconds, in a ring: O(1) to add, O(60) to read. */
export class MinuteCounter {
  readonly #counts = new Array<number>(60).fill(0);
  #second = 0;

  add(now: number): void {
    this.#advance(Math.floor(now / 1000));
    this.#counts[this.#second % 60]!++;
  }

  /** Events in the 60 seconds up to `now`. */
  total(now: number): number {
    this.#advance(Math.floor(now / 1000));
    return this.#counts.reduce((sum, n) => sum + n, 0);
  }

  #advance(second: number): void {
    if (second <= this.#second) return;
    const gap = Math.min(second - this.#second, 60);
    for (let i = 1; i <= gap; i++) this.#counts[(this.#second + i) % 60] = 0;
    this.#second = second;
  }
}
