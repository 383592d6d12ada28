/**
 * Which instances are live in a pool, as a store that keeps the pool in memory counts them
 * (MemoryStore, the Durable Object): each report that names `liveMs` keeps its instance counted
 * that long. The map is kept in the order of the latest reports, so a count sweeps expired
 * entries from the front and stops at the first live one: amortised O(1) per sync. Instances
 * whose liveMs differ may leave an expired entry behind a live one for a while; the count then
 * errs high, which only makes instances sync less often.
 */
export class Presence {
  readonly #until = new Map<string, number>();

  report(instance: string, until: number): void {
    this.#until.delete(instance);
    this.#until.set(instance, until);
  }

  count(now: number): number {
    for (const [instance, until] of this.#until) {
      if (until > now) break;
      this.#until.delete(instance);
    }
    return this.#until.size;
  }
}
