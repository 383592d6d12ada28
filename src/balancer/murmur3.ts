/**
 * MurmurHash3 x86_32 over the UTF-8 bytes of a string.
 *
 * UTF-8 rather than UTF-16 code units so the value matches every other murmur3 implementation
 * (Go, Python mmh3, Redis modules): a key hashes the same wherever it is hashed, and the
 * published test vectors apply. Not cryptographic: keys choose a backend, they guard nothing.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

const encoder = new TextEncoder();
// Reused scratch buffer: hashing sits on the hot path and most keys (IPs) are short, so
// encodeInto a shared buffer avoids one allocation per request. Safe because JS runs this
// function to completion without interleaving.
let scratch = new Uint8Array(256);

/** 32-bit unsigned MurmurHash3 (x86_32) of `key` encoded as UTF-8. */
export function murmur3(key: string, seed = 0): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair is 4 bytes for 2 units).
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3);
  const { written: len } = encoder.encodeInto(key, scratch);
  return murmur3Bytes(scratch, len, seed);
}

/** MurmurHash3 x86_32 of the first `len` bytes of `bytes`. */
export function murmur3Bytes(bytes: Uint8Array, len: number, seed = 0): number {
  let h = seed >>> 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h ^= scrambleBlock(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let tail = bytes[blocks]!;
    if (rest > 1) tail |= bytes[blocks + 1]! << 8;
    if (rest > 2) tail |= bytes[blocks + 2]! << 16;
    h ^= scrambleBlock(tail);
  }
  h ^= len;
  return fmix32(h);
}

function scrambleBlock(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/**
 * Murmur3's finaliser: a bijection on 32-bit integers with full avalanche, handy for turning
 * structured integers (indices, counters) into well-spread ones.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
