import type { Backend } from "../shared/backend.ts";
import type { PoolSnapshot } from "../state/types.ts";
import { type AvailabilityPolicy, decideAvailability } from "./availability.ts";
import type { WalkLimits } from "./candidate-walk.ts";
import type { BalancingAlgorithm, Selector } from "./types.ts";

/** The selector to ask right now, and the backends it may yield that must be skipped. */
export interface Rotation extends WalkLimits {
  readonly selector: Selector;
  /** Sequence positions per full turn: blocks of whole turns keep round robin exact. */
  readonly granule: number;
  /** How many backends can take traffic now (0: answer 503). */
  readonly available: number;
  readonly panic: boolean;
  readonly rampShare: ReadonlyMap<string, number>;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * Turns the pool's backends plus the shared view into a Rotation, rebuilding the selector only
 * when the set of usable backends changes. Most algorithms are rebuilt over the usable backends
 * (round robin: available[seq mod n]); one that builds over the whole tier (ip-hash) keeps its
 * table and skips the unusable ones, so a backend going down moves only its own keys.
 */
export class RotationCache {
  readonly #tiers: Readonly<Record<"primary" | "backup", readonly Backend[]>>;
  /** Whole-tier selectors, built once per tier: health changes must not reshuffle keys. */
  readonly #tierSelectors = new Map<string, Selector>();
  #key = "";
  #rotation: Rotation | undefined;
  #viewed: PoolSnapshot | undefined;
  #validUntil = 0;

  constructor(
    readonly algorithm: BalancingAlgorithm,
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

  #build(
    tier: "primary" | "backup",
    usable: readonly Backend[],
    panic: boolean,
    rampShare: ReadonlyMap<string, number>,
  ): Rotation {
    const base = { available: usable.length, panic, rampShare };
    const algorithm = this.algorithm;
    if (algorithm.buildsOverWholeTier) {
      const members = this.#tiers[tier];
      const up = new Set(usable.map((b) => b.name));
      let selector = this.#tierSelectors.get(tier);
      if (!selector) {
        selector = algorithm.build(members);
        this.#tierSelectors.set(tier, selector);
      }
      const unavailable = new Set(members.filter((b) => !up.has(b.name)).map((b) => b.name));
      return { ...base, selector, granule: algorithm.positionsPerTurn?.(members) ?? 1, unavailable };
    }
    const selector = algorithm.build(usable);
    return { ...base, selector, unavailable: NONE, granule: algorithm.positionsPerTurn?.(usable) ?? 1 };
  }
}
