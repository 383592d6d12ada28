/**
 * Upper bounds of the latency histogram's buckets in seconds, 1 ms to 30 s (Prometheus' own
 * defaults stretched both ways: a balancer sees sub-10 ms backends and slow ones near a timeout).
 */
export const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
const BUCKET_MS = LATENCY_BUCKETS_S.map((s) => s * 1000);

/** One backend's counters on this instance. */
export class BackendMetrics {
  /** Responses passed to clients by status class: [1xx, 2xx, 3xx, 4xx, 5xx]. */
  readonly responses = [0, 0, 0, 0, 0];
  /** Attempts sent to it (first tries and retries). */
  attempts = 0;
  /** Attempts that failed or were answered 5xx: at most one per attempt (the dashboard's error rate). */
  errors = 0;
  /**
   * Time to the response headers of the responses passed on, per bucket (not cumulative; the
   * last one is above 30 s). Rendered cumulative with +Inf (render-metrics.ts).
   */
  readonly latencyBuckets: number[] = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0);
  latencySumS = 0;

  observe(status: number, latencyMs: number): void {
    this.responses[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!++;
    let bucket = 0;
    while (bucket < BUCKET_MS.length && latencyMs > BUCKET_MS[bucket]!) bucket++;
    this.latencyBuckets[bucket]!++;
    this.latencySumS += latencyMs / 1000;
  }
}

/**
 * This instance's counters for one pool. Cheap on the hot path (a Map lookup and a few
 * increments per attempt and per response); Prometheus sums them across instances. On Workers a
 * scrape reaches one isolate, so shared figures (health, in-flight, store) are the dependable
 * ones there.
 */
export class PoolMetrics {
  readonly #backends = new Map<string, BackendMetrics>();
  /** backend \u0000 failure kind -> attempts that failed */
  readonly failures = new Map<string, number>();
  /** backend -> the last failed attempt as this instance saw it (for /_lb/status, not clients) */
  readonly lastFailure = new Map<string, { readonly kind: string; readonly reason: string; readonly at: number }>();
  retries = 0;
  noBackend = 0;
  /** backend -> requests of affinity sessions it served, per second over the last minute */
  readonly affinityServed = new Map<string, MinuteCounter>();

  backend(name: string): BackendMetrics {
    let metrics = this.#backends.get(name);
    if (!metrics) {
      metrics = new BackendMetrics();
      this.#backends.set(name, metrics);
    }
    return metrics;
  }

  attempt(backend: string): void {
    this.backend(backend).attempts++;
  }

  /**
   * A response passed to the client, and the time to its headers. `failed`: a 5xx no failed
   * attempt has counted yet (one that is not retried, like a 500), so it counts as an error here.
   */
  response(backend: string, status: number, latencyMs: number, failed = false): void {
    const metrics = this.backend(backend);
    metrics.observe(status, latencyMs);
    if (failed) metrics.errors++;
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
    this.backend(backend).errors++;
    this.lastFailure.set(backend, { kind, reason, at: Date.now() });
  }

  /** Failed attempts on `backend`, all kinds. */
  failuresOf(backend: string): number {
    let total = 0;
    for (const [key, n] of this.failures) if (key.startsWith(`${backend}\u0000`)) total += n;
    return total;
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
