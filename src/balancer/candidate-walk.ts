import type { Backend } from "../shared/backend.ts";
import type { SelectionInput, Selector } from "./types.ts";

/** What a walk passes over besides what it already handed out. */
export interface WalkLimits {
  /** Backends the selector may yield but that take no requests now (ip-hash over a whole tier). */
  readonly unavailable: ReadonlySet<string>;
  /** Backends ramping up after recovery (slow start) and their share of full weight, 0..1. */
  readonly rampShare?: ReadonlyMap<string, number>;
}

const NO_RAMP: ReadonlyMap<string, number> = new Map();

/**
 * One request's walk over a selector's candidates: the first choice, then on each retry the
 * next one not unavailable and not handed out before. Candidates are produced lazily, so a
 * request whose first choice serves costs only that first choice.
 */
export class CandidateWalk {
  readonly #candidates: Iterator<Backend>;
  readonly #tried = new Set<string>();
  readonly #unavailable: ReadonlySet<string>;
  readonly #rampShare: ReadonlyMap<string, number>;
  readonly #random: () => number;

  constructor(selector: Selector, input: SelectionInput, limits: WalkLimits) {
    this.#candidates = selector.candidates(input)[Symbol.iterator]();
    this.#unavailable = limits.unavailable;
    this.#rampShare = limits.rampShare ?? NO_RAMP;
    this.#random = input.random;
  }

  /** Names handed out by next() so far. */
  get tried(): ReadonlySet<string> {
    return this.#tried;
  }

  /**
   * The next candidate, or undefined when none is left. A backend still ramping up takes a
   * request with probability equal to its share so far; passed over, it is kept as the answer
   * of last resort, so a pool of ramping backends still serves.
   */
  next(): Backend | undefined {
    let passedOver: Backend | undefined;
    for (let step = this.#candidates.next(); !step.done; step = this.#candidates.next()) {
      const backend = step.value;
      if (this.#unavailable.has(backend.name) || this.#tried.has(backend.name)) continue;
      const share = this.#rampShare.get(backend.name);
      if (share !== undefined && this.#random() >= share) {
        passedOver ??= backend;
        continue;
      }
      this.#tried.add(backend.name);
      return backend;
    }
    if (passedOver) this.#tried.add(passedOver.name);
    return passedOver;
  }
}
