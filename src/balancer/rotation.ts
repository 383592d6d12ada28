import type { PoolSnapshot } from "../state/types.ts";
import { decideAvailability, type AvailabilityPolicy } from "./availability.ts";
import { buildSelector } from "./select.ts";
import type { Backend } from "../shared/backend.ts";
import type { Algorithm, Selector } from "./types.ts";

/** The selector to ask right now, and the backends it may yield that must be skipped. */
export interface Rotation {
  readonly selector: Selector;
  readonly unavailable: ReadonlySet<string>;
  /** Sequence positions per full turn: blocks of whole turns keep round robin exact. */
  readonly granule: number;
  /** How many backends can take traffic now (0: answer 503). */
  readonly available: number;
  readonly panic: boolean;
  /** Backends ramping up after recovery and their share of full weight (slow start). */
  readonly rampShare: ReadonlyMap<string, number>;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * Turns the pool's backends plus the shared view into a Rotation, rebuilding the selector only
 * when the set of usable backends changes. Round robin rotates over the usable backends
 * (healthy[seq mod n]); ip-hash keeps its table over the whole tier and skips the unusable ones,
 * so a backend going down moves only its own keys.
 */
export class RotationCache {
  readonly #tiers: Readonly<Record<"primary" | "backup", readonly Backend[]>>;
  /** ip-hash tables per tier, built once: health changes must not reshuffle keys. */
  readonly #hashSelectors = new Map<string, Selector>();
  #key = "";
  #rotation: Rotation | undefined;
  #viewed: PoolSnapshot | undefined;
  #validUntil = 0;

  constructor(
    private readonly algorithm: Algorithm,
    private readonly backends: readonly Backend[],
    private readonly policy: AvailabilityPolicy,
  ) {
    this.#tiers = { primary: backends.filter((b) => !b.backup), backup: backends.filter((b) => b.backup) };
  }

  /** O(1) while the snapshot is unchanged and nothing expires; O(backends) otherwise. */
  current(snapshot: PoolSnapshot, now: number): Rotation {
    if (snapshot === this.#viewed && now < this.#validUntil && this.#rotation) return this.#rotation;
    this.#viewed = snapshot;
    const decided = decideAvailability(this.backends, (name) => snapshot.backends[name], now, this.policy);
    this.#validUntil = decided.validUntil;
    const key = `${decided.tier}${decided.panic ? "!" : ""}:${decided.usable.map((b) => b.name).join("\n")}`;
    if (key !== this.#key || !this.#rotation) {
      this.#key = key;
      this.#rotation = this.#build(decided.tier, decided.usable, decided.panic, decided.rampShare);
    } else if (decided.rampShare.size > 0 || this.#rotation.rampShare.size > 0) {
      this.#rotation = { ...this.#rotation, rampShare: decided.rampShare };
    }
    return this.#rotation;
  }

  #build(tier: "primary" | "backup", usable: readonly Backend[], panic: boolean, rampShare: ReadonlyMap<string, number>): Rotation {
    const base = { available: usable.length, panic, rampShare };
    if (this.algorithm === "ip-hash") {
      const members = this.#tiers[tier];
      const up = new Set(usable.map((b) => b.name));
      let selector = this.#hashSelectors.get(tier);
      if (!selector) {
        selector = buildSelector(this.algorithm, members);
        this.#hashSelectors.set(tier, selector);
      }
      return { ...base, selector, granule: 1, unavailable: new Set(members.filter((b) => !up.has(b.name)).map((b) => b.name)) };
    }
    return { ...base, selector: buildSelector(this.algorithm, usable), unavailable: NONE, granule: granuleOf(this.algorithm, usable) };
  }
}

function granuleOf(algorithm: Algorithm, tier: readonly Backend[]): number {
  if (algorithm === "round-robin") return Math.max(1, tier.length);
  if (algorithm === "weighted-round-robin") {
    const divisor = tier.reduce((g, b) => gcd(g, b.weight), 0) || 1;
    return Math.max(1, tier.reduce((sum, b) => sum + b.weight / divisor, 0));
  }
  return 1;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
