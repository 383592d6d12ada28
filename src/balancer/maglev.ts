import type { Backend } from "../shared/backend.ts";
import { checkBackends } from "./check-backends.ts";
import { distinctWalk } from "./distinct-walk.ts";
import { murmur3 } from "./murmur3.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/**
 * Table sizes, each a prime roughly double the last. The size must be prime so every skip in
 * 1..M-1 is coprime to M and each backend's permutation visits every slot; it should be at least
 * 100 x backends so each backend's share is within about 1% of its weight (Maglev paper, 5.3).
 * 65537 is Envoy's default.
 */
export const MAGLEV_PRIMES: readonly number[] = [
  65537, 131071, 262147, 524309, 1048583, 2097169, 4194319, 8388617, 16777259,
];

/** The smallest listed prime holding at least 100 slots per backend. */
export function maglevTableSize(backendCount: number): number {
  const size = MAGLEV_PRIMES.find((p) => p >= 100 * backendCount);
  if (size === undefined) {
    throw new RangeError(`too many backends for a Maglev table: ${backendCount}`);
  }
  return size;
}

// Fixed seeds: the table must come out identical in every instance and every runtime.
const OFFSET_SEED = 0x4d61676c; // "Magl"
const SKIP_SEED = 0x65764c42; // "evLB"

/**
 * Builds the lookup table: slot -> index into `backends`. Each backend walks its own permutation
 * of the slots (offset + j x skip mod M, both derived from its name) and claims the next free
 * slot on its turns. Weighting follows Envoy: a backend takes a turn in an iteration only once
 * its claims so far lag weight/maxWeight x iteration, so the heaviest claims one slot per
 * iteration and the others proportionally fewer.
 *
 * Everything depends on names, never on list positions, except the order of turns within an
 * iteration; the caller sorts by name so the table is the same for any ordering of one set.
 */
export function buildMaglevTable(backends: readonly Backend[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const n = backends.length;
  if (n === 0) return table;

  const offset = backends.map((b) => murmur3(b.name, OFFSET_SEED) % size);
  const skip = backends.map((b) => (murmur3(b.name, SKIP_SEED) % (size - 1)) + 1);
  const next = new Array<number>(n).fill(0);
  const target = new Array<number>(n).fill(0);
  const maxWeight = backends.reduce((max, b) => Math.max(max, b.weight), 0);

  let filled = 0;
  for (let iteration = 1; filled < size; iteration++) {
    for (let i = 0; i < n && filled < size; i++) {
      if (iteration * backends[i]!.weight < target[i]!) continue;
      target[i]! += maxWeight;
      // Walk this backend's permutation to its next unclaimed slot. Product stays below 2^53
      // (both factors < 2^25 for the largest listed prime), so plain arithmetic is exact.
      let slot = (offset[i]! + next[i]! * skip[i]!) % size;
      while (table[slot] !== -1) {
        next[i]!++;
        slot = (offset[i]! + next[i]! * skip[i]!) % size;
      }
      table[slot] = i;
      next[i]!++;
      filled++;
    }
  }
  return table;
}

export interface MaglevOptions {
  /** Override the table size (must be a prime >= backends); tests use small tables. */
  readonly tableSize?: number;
}

/**
 * Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016), the "ip-hash" algorithm.
 *
 * First choice: table[hash(key) mod M], O(1). When it is excluded, the walk probes further slots
 * at hash(key, seed i), i = 1, 2, ...: each probe lands on a backend with probability equal to its
 * table share, so a down backend's keys spread over the rest in proportion to weight, and keys
 * whose first choice is up never move. Probing is bounded to 4n; any backend not met by then
 * follows in name order so the walk always ends and always covers everyone.
 */
export function buildMaglev(backends: readonly Backend[], options: MaglevOptions = {}): Selector {
  checkBackends(backends);
  const list = [...backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const n = list.length;
  const size = options.tableSize ?? maglevTableSize(n);
  if (size < n) throw new RangeError(`Maglev table size ${size} is below backend count ${n}`);
  const table = buildMaglevTable(list, size);
  const maxProbes = 4 * n;

  return {
    *candidates({ key }) {
      if (n === 0) return;
      yield* distinctWalk(list, table[murmur3(key) % size]!, (probe) => table[murmur3(key, probe) % size]!, maxProbes);
    },
  };
}

export const ipHash = {
  name: "ip-hash",
  help: "the same client key (IP, header or cookie) to the same backend (weighted Maglev)",
  needs: "key",
  build: buildMaglev,
  buildsOverWholeTier: true,
} as const satisfies BalancingAlgorithm;
