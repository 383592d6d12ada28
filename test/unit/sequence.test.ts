import { describe, expect, it } from "vitest";
import { SequenceBlocks } from "../../src/state/sequence.ts";

/** A counter standing in for the store's INCRBY: pure logic under test, not the store. */
function counter() {
  let value = 0;
  const sizes: number[] = [];
  return {
    sizes,
    reserve: async (size: number) => {
      sizes.push(size);
      const first = value;
      value += size;
      return first;
    },
  };
}

describe("SequenceBlocks", () => {
  it("hands out every position exactly once, in order, while blocks grow to whole turns", async () => {
    const store = counter();
    const clock = () => 0;
    const blocks = new SequenceBlocks(store.reserve, 64, clock);
    const seen: number[] = [];
    for (let i = 0; i < 500; i++) seen.push(await blocks.next(3));
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(store.sizes.slice(0, 8)).toEqual([1, 2, 3, 6, 15, 30, 63, 63]);
    expect(store.sizes.filter((size) => size >= 3).every((size) => size % 3 === 0)).toBe(true);
  });

  it("keeps a burst of concurrent first requests balanced over the rotation", async () => {
    const store = counter();
    const blocks = new SequenceBlocks(store.reserve, 64, () => 0);
    const positions = await Promise.all(Array.from({ length: 60 }, () => blocks.next(3)));
    const perBackend = [0, 0, 0];
    for (const p of positions) perBackend[p % 3]!++;
    expect(new Set(positions).size).toBe(60);
    expect(Math.max(...perBackend) - Math.min(...perBackend)).toBeLessThanOrEqual(1);
  });

  it("stays at one position per call with a batch of 1 (exact global order)", async () => {
    const store = counter();
    const blocks = new SequenceBlocks(store.reserve, 1, () => 0);
    for (let i = 0; i < 10; i++) await blocks.next(3);
    expect(store.sizes).toEqual(Array(10).fill(1));
  });

  it("shrinks the block again when traffic slows", async () => {
    const store = counter();
    let now = 0;
    const blocks = new SequenceBlocks(store.reserve, 64, () => now);
    for (let i = 0; i < 200; i++) await blocks.next(1);
    const grown = store.sizes.at(-1)!;
    now += 10_000;
    for (let i = 0; i < grown; i++) await blocks.next(1); // use up the queue
    now += 10_000;
    await blocks.next(1);
    expect(store.sizes.at(-1)!).toBeLessThan(grown);
  });

  it("falls back to local positions when the store fails, and keeps serving", async () => {
    const blocks = new SequenceBlocks(
      async () => Promise.reject(new Error("down")),
      8,
      () => 0,
    );
    const seen = await Promise.all(Array.from({ length: 20 }, () => blocks.next(1)));
    expect(new Set(seen).size).toBe(20);
  });
});

describe("SequenceBlocks while the store is known to be down", () => {
  it("does not call the store at all, so no request waits for it", async () => {
    const store = counter();
    let down = true;
    const blocks = new SequenceBlocks(
      store.reserve,
      8,
      () => 0,
      () => down,
    );
    const seen = await Promise.all(Array.from({ length: 20 }, () => blocks.next(1)));
    expect(store.sizes).toEqual([]);
    expect(new Set(seen).size).toBe(20);
    down = false;
    for (let i = 0; i < 20; i++) await blocks.next(1);
    expect(store.sizes.length).toBeGreaterThan(0);
  });
});
