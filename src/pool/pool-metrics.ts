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

  response(backend: string, status: number): void {
    bump(this.responses, `${backend}\u0000${Math.floor(status / 100)}xx`);
  }

  failure(backend: string, kind: string, reason: string): void {
    bump(this.failures, `${backend}\u0000${kind}`);
    this.lastFailure.set(backend, { kind, reason, at: Date.now() });
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
