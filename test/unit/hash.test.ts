import { describe, expect, it } from "vitest";
import { fmix32, murmur3 } from "../../src/balancer/murmur3.ts";
import { mulberry32 } from "../support/prng.ts";

describe("murmur3 (x86_32, UTF-8)", () => {
  // Published vectors for MurmurHash3_x86_32, so the value matches other implementations.
  it.each([
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["\0\0\0\0", 0, 0x2362f9de],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["ab", 0x9747b28c, 0x74875592],
    ["abc", 0x9747b28c, 0xc84a62dd],
    ["abcd", 0x9747b28c, 0xf0478627],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["ππππππππ", 0x9747b28c, 0xd58063c1],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
  ])("murmur3(%j, %i)", (key, seed, expected) => {
    expect(murmur3(key, seed)).toBe(expected);
  });

  it("handles keys longer than the scratch buffer and astral characters", () => {
    const long = `${"x".repeat(10_000)}😀`;
    expect(murmur3(long)).toBe(murmur3(long));
    expect(murmur3(long)).not.toBe(murmur3(long.slice(0, -2)));
    // The scratch buffer grew; short keys still hash as before.
    expect(murmur3("abc", 0x9747b28c)).toBe(0xc84a62dd);
  });

  it("spreads similar keys over the range (no bucket gets far more than its share)", () => {
    const random = mulberry32(7);
    const buckets = new Array<number>(16).fill(0);
    for (let i = 0; i < 32_000; i++) {
      const ip = `10.0.${Math.floor(random() * 256)}.${i % 256}`;
      buckets[murmur3(ip) >>> 28]!++;
    }
    expect(Math.max(...buckets)).toBeLessThan(2_000 * 1.1);
    expect(Math.min(...buckets)).toBeGreaterThan(2_000 * 0.9);
  });
});

describe("fmix32", () => {
  it("is murmur3's finaliser (fmix32(0) = 0) and avalanches one bit", () => {
    expect(fmix32(0)).toBe(0);
    const diff = fmix32(1) ^ fmix32(0);
    const bits = diff.toString(2).replace(/0/g, "").length;
    expect(bits).toBeGreaterThan(8);
  });
});
