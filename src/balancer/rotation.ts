import type { Backend } from "../shared/backend.ts";
import type { PoolSnapshot } from "../state/types.ts";
import {
  type Availability,
  type AvailabilityPolicy,
  decideAvailability,
  effectiveWeight,
  withEffectiveWeight,
} from "./availability.ts";
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
  /** Backends usable in truth (panic aside): steering compares it with minimum_healthy. */
  readonly healthy: number;
  readonly rampShare: ReadonlyMap<string, number>;
}

const NONE: ReadonlySet<string> = new Set();

/** What a selector was built over: names with their effective weights. */
const signature = (list: readonly Backend[]) => list.map((b) => `${b.name}\t${b.weight}`).join("\n");

/**
 * Turns the pool's backends plus the shared view into a Rotation, rebuilding the selector only
 * when the set of usable backends or their weights (set at run time) change. Most algorithms
 * are rebuilt over the usable backends (round robin: available[seq mod n]); one that builds over
 * the whole tier (ip-hash) keeps its table and skips the unusable ones, so a backend going down
 * moves only its own keys. A new set of weights is a new table.
 */
export class RotationCache {
  readonly #tiers: Readonly<Record<"primary" | "backup", readonly Backend[]>>;
  /**
   * Whole-tier selectors, per tier, with the weights they were built for: health changes must
   * not reshuffle keys; weight changes must. Only the latest per tier is kept.
   */
  readonly #tierSelectors = new Map<string, { readonly weights: string; readonly selector: Selector }>();
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
    // Every member's weight, usable or not: a whole-tier table covers the unusable ones too.
    const weights = this.backends.map((b) => effectiveWeight(b, snapshot.backends[b.name])).join(",");
    const key = `${decided.tier}${decided.panic ? "!" : ""}${decided.healthy}:${weights}:${signature(decided.usable)}`;
    if (key !== this.#key || !this.#rotation) {
      this.#key = key;
      this.#rotation = this.#build(snapshot, decided);
    } else if (decided.rampShare.size > 0 || this.#rotation.rampShare.size > 0) {
      this.#rotation = { ...this.#rotation, rampShare: decided.rampShare };
    }
    return this.#rotation;
  }

  #build(snapshot: PoolSnapshot, decided: Availability): Rotation {
    const { tier, usable, panic, healthy, rampShare } = decided;
    const base = { available: usable.length, panic, healthy, rampShare };
    const algorithm = this.algorithm;
    if (algorithm.buildsOverWholeTier) {
      // Weight 0 takes no new placements: it gets no share of the table at all.
      const members = this.#tiers[tier]
        .map((b) => withEffectiveWeight(b, snapshot.backends[b.name]))
        .filter((b) => b.weight > 0);
      const weights = signature(members);
      let built = this.#tierSelectors.get(tier);
      if (built?.weights !== weights) {
        built = { weights, selector: algorithm.build(members) };
        this.#tierSelectors.set(tier, built);
      }
      const up = new Set(usable.map((b) => b.name));
      const unavailable = new Set(members.filter((b) => !up.has(b.name)).map((b) => b.name));
      return {
        ...base,
        selector: built.selector,
        granule: algorithm.positionsPerTurn?.(members) ?? 1,
        unavailable,
      };
    }
    const selector = algorithm.build(usable);
    return { ...base, selector, unavailable: NONE, granule: algorithm.positionsPerTurn?.(usable) ?? 1 };
  }
}
