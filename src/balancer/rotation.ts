import type { AdminState, Health, PoolSnapshot } from "../state/types.ts";
import { buildSelector } from "./select.ts";
import type { Algorithm, Backend, Selector } from "./types.ts";

/** What the shared view says about one backend, as far as selection cares. */
export interface Availability {
  readonly health?: Health;
  readonly admin?: AdminState;
}

/** The selector to ask right now, and the backends it may yield that must be skipped. */
export interface Rotation {
  readonly selector: Selector;
  readonly unavailable: ReadonlySet<string>;
  /** Sequence positions per full turn: blocks of whole turns keep round robin exact. */
  readonly granule: number;
  /** How many backends can take traffic now (0: answer 503). */
  readonly available: number;
}

const NONE: ReadonlySet<string> = new Set();

export function isAvailable(state: Availability | undefined): boolean {
  return state?.health !== "down" && state?.admin !== "drained" && state?.admin !== "disabled";
}

/**
 * Turns the pool's backends plus the shared view into a Rotation, rebuilding the selector only
 * when the set of usable backends changes. Round robin rotates over the available backends
 * (healthy[seq mod n]); ip-hash keeps its table over every backend and skips the unavailable
 * ones, so a backend going down moves only its own keys.
 */
export class RotationCache {
  readonly #primaries: readonly Backend[];
  readonly #backups: readonly Backend[];
  readonly #stableHash: boolean;
  /** ip-hash tables per tier, built once: health changes must not reshuffle keys. */
  readonly #hashSelectors = new Map<readonly Backend[], Selector>();
  #key = "";
  #rotation: Rotation | undefined;
  #viewed: PoolSnapshot | undefined;

  constructor(
    private readonly algorithm: Algorithm,
    backends: readonly Backend[],
  ) {
    this.#primaries = backends.filter((b) => !b.backup);
    this.#backups = backends.filter((b) => b.backup);
    this.#stableHash = algorithm === "ip-hash";
  }

  /** O(1) while the snapshot is unchanged; O(backends) once per new snapshot. */
  current(snapshot: PoolSnapshot): Rotation {
    if (snapshot === this.#viewed && this.#rotation) return this.#rotation;
    this.#viewed = snapshot;
    const stateOf = (name: string): Availability | undefined => snapshot.backends[name];
    let tier = this.#primaries.filter((b) => isAvailable(stateOf(b.name)));
    let members = this.#primaries;
    if (tier.length === 0) {
      tier = this.#backups.filter((b) => isAvailable(stateOf(b.name)));
      members = this.#backups;
    }
    const key = (members === this.#primaries ? "p:" : "b:") + tier.map((b) => b.name).join("\n");
    if (key !== this.#key || !this.#rotation) {
      this.#key = key;
      this.#rotation = this.#build(members, tier);
    }
    return this.#rotation;
  }

  #build(members: readonly Backend[], tier: readonly Backend[]): Rotation {
    if (this.#stableHash) {
      const up = new Set(tier.map((b) => b.name));
      let selector = this.#hashSelectors.get(members);
      if (!selector) {
        selector = buildSelector(this.algorithm, members);
        this.#hashSelectors.set(members, selector);
      }
      return {
        selector,
        unavailable: new Set(members.filter((b) => !up.has(b.name)).map((b) => b.name)),
        granule: 1,
        available: tier.length,
      };
    }
    return {
      selector: buildSelector(this.algorithm, tier),
      unavailable: NONE,
      granule: granuleOf(this.algorithm, tier),
      available: tier.length,
    };
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
