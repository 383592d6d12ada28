/**
 * Whether a claim that finds a live placement should rewrite its stored expiry. Stores that pay
 * per write (Durable Object rows, KV writes, and KV's 1 write/s per key) skip rewrites that
 * would move the expiry by less than `stepMs` (at most a quarter of the ttl), so a busy session
 * costs one write per step instead of one per request. The price: an idle session lapses
 * between `ttlMs - step` and `ttlMs` after its last claim instead of exactly `ttlMs`.
 */
export function renewalDue(until: number, now: number, ttlMs: number, stepMs: number): boolean {
  return now + ttlMs - until >= Math.min(ttlMs / 4, stepMs);
}
