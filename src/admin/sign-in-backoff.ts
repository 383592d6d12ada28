// Failed sign-ins back off exponentially per client address. Per instance, not shared: a store
// round trip per guess would let an attacker spend our store budget, and the token is at least
// 16 characters, so what matters is that guessing is slow, not that the count is exact across
// instances.

/** The first failure blocks its address for 1 s; each further consecutive one doubles that. */
export const BACKOFF_BASE_MS = 1_000;
/** ...up to 5 minutes. */
export const BACKOFF_MAX_MS = 5 * 60_000;
/**
 * Addresses remembered at once; past it the least recently failed is forgotten, so an attacker
 * rotating addresses costs a bounded amount of memory (roughly 1 MB) and gains only a fresh start.
 */
export const BACKOFF_CAPACITY = 10_000;
/**
 * An address quiet for this long after its window ended starts again from 1 s, so a typo made
 * yesterday does not cost five minutes today.
 */
export const BACKOFF_FORGET_MS = BACKOFF_MAX_MS;

export interface BackoffOptions {
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly capacity?: number;
  readonly forgetMs?: number;
  readonly now?: () => number;
}

interface Entry {
  failures: number;
  /** Epoch ms before which this address may not try again. */
  until: number;
}

export type BackoffVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterS: number };

export class SignInBackoff {
  private readonly entries = new Map<string, Entry>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly capacity: number;
  private readonly forgetMs: number;
  private readonly now: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? BACKOFF_BASE_MS;
    this.maxMs = options.maxMs ?? BACKOFF_MAX_MS;
    this.capacity = options.capacity ?? BACKOFF_CAPACITY;
    this.forgetMs = options.forgetMs ?? BACKOFF_FORGET_MS;
    this.now = options.now ?? Date.now;
  }

  /** May `address` try now? If not, how many whole seconds until it may (Retry-After). */
  check(address: string): BackoffVerdict {
    const entry = this.live(address);
    const wait = entry ? entry.until - this.now() : 0;
    return wait > 0 ? { allowed: false, retryAfterS: Math.ceil(wait / 1000) } : { allowed: true };
  }

  failure(address: string): void {
    const failures = (this.live(address)?.failures ?? 0) + 1;
    const windowMs = Math.min(this.baseMs * 2 ** Math.min(failures - 1, 30), this.maxMs);
    // Delete first so the address moves to the end: Map order is then least recently failed first.
    this.entries.delete(address);
    this.entries.set(address, { failures, until: this.now() + windowMs });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  success(address: string): void {
    this.entries.delete(address);
  }

  /** Addresses remembered now (tests, and a bound worth being able to see). */
  get size(): number {
    return this.entries.size;
  }

  private live(address: string): Entry | undefined {
    const entry = this.entries.get(address);
    if (entry && this.now() - entry.until >= this.forgetMs) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }
}
