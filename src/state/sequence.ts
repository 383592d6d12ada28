/** A block used up faster than this doubles the next one; slower than SLOW halves it. */
const FAST_BLOCK_MS = 1_000;
const SLOW_BLOCK_MS = 5_000;

/**
 * This instance's share of the pool's shared sequence: blocks of positions reserved from the
 * store and handed out in order. The block size adapts to the request rate (1 when idle, so a
 * new instance joins the rotation at once; up to `maxBatch` under load) and is a whole number
 * of turns of the rotation, so every fully used block is exactly balanced.
 */
export class SequenceBlocks {
  /** Reserved, not yet used positions, oldest first. */
  readonly #blocks: { next: number; end: number }[] = [];
  #batch = 1;
  #lastReserveAt = -Infinity;
  /** Fallback positions while the store is unreachable: local order from a random start. */
  #local = Math.floor(Math.random() * 1_000_000);

  constructor(
    /** One store call: adds `size` to the shared counter, resolves to the first position. */
    private readonly reserve: (size: number) => Promise<number>,
    private readonly maxBatch: number,
    private readonly clock: () => number = Date.now,
    /** While true the store is known to be down: take local positions without waiting for it. */
    private readonly storeDown: () => boolean = () => false,
    /**
     * While true the pool's store load is past its budget (PoolState): blocks of whole turns come
     * from a local rotation instead of the store (see #reserveOwn).
     */
    private readonly overBudget: () => boolean = () => false,
  ) {}

  /** Synchronous while a reserved block lasts. */
  next(granule: number): number | Promise<number> {
    return this.#blocks.length > 0 ? this.#take() : this.#reserveOwn(granule);
  }

  /**
   * Reserves a block with this request's own store call; its positions join the queue for this
   * and later requests. No request ever awaits another request's store call: on Workers that
   * I/O belongs to the other request and may not be continued from this one.
   */
  async #reserveOwn(granule: number): Promise<number> {
    const now = this.clock();
    const lasted = now - this.#lastReserveAt;
    if (lasted < FAST_BLOCK_MS) this.#batch = Math.min(this.#batch * 2, this.maxBatch);
    else if (lasted > SLOW_BLOCK_MS) this.#batch = Math.max(1, Math.floor(this.#batch / 2));
    let size = this.#batch >= granule ? this.#batch - (this.#batch % granule) : this.#batch;
    this.#lastReserveAt = now;
    let first: number;
    if (this.maxBatch >= granule && this.overBudget()) {
      // A block of whole turns used by one instance is exactly balanced wherever its positions
      // come from; only blocks shorter than a turn need the shared counter to interleave
      // instances. So past the budget an instance rotates locally, from a random start, and
      // spends no store call on positions. (SEQUENCE_BATCH below a turn asked for exact global
      // order: that keeps reserving.)
      size = Math.max(granule, size);
      first = this.#local;
      this.#local += size;
      this.#blocks.push({ next: first, end: first + size });
      return this.#take();
    }
    try {
      if (this.storeDown()) throw new Error("store down");
      first = await this.reserve(size);
    } catch {
      // A hung store would otherwise hold this request for the whole store timeout, every block.
      first = this.#local;
      this.#local += size;
    }
    // Queue the block and take the oldest position, not this block's first: under a burst the
    // blocks' first positions share a residue (sizes are whole turns) and would all pick one backend.
    this.#blocks.push({ next: first, end: first + size });
    return this.#take();
  }

  #take(): number {
    const block = this.#blocks[0]!;
    const seq = block.next++;
    if (block.next >= block.end) this.#blocks.shift();
    return seq;
  }
}
