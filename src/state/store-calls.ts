import type { Log } from "../shared/log.ts";
import { realTimers, type Timers } from "./timers.ts";

/** What /_lb/status and the metrics show about the store. */
export interface StoreStats {
  roundTrips: number;
  /** Of those, header-affinity session claims (StateStore.claimSession). */
  sessionClaims: number;
  errors: number;
  degraded: boolean;
  lastError?: string;
}

export interface StoreCallerOptions {
  /** The store's kind, for the log lines. */
  readonly kind: string;
  /** A call not answered within this is failed here (the store may still finish it). */
  readonly timeoutMs: number;
  readonly log: Log;
  readonly timers?: Timers;
}

/**
 * Every store round trip of one pool goes through here: each gets a deadline, so a hung store
 * costs a request at most `timeoutMs`, and a change between reachable and unreachable is logged
 * once, not per call (README, State stores: what the instance does while the store is down).
 */
export class StoreCaller {
  readonly stats: StoreStats = { roundTrips: 0, sessionClaims: 0, errors: 0, degraded: false };
  readonly #timers: Timers;

  constructor(private readonly options: StoreCallerOptions) {
    this.#timers = options.timers ?? realTimers;
  }

  /** True from a failed call until the next successful one. */
  get degraded(): boolean {
    return this.stats.degraded;
  }

  async call<T>(operation: () => Promise<T>): Promise<T> {
    this.stats.roundTrips++;
    let cancel: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      cancel = this.#timers.after(this.options.timeoutMs, () =>
        reject(new Error(`store timed out after ${this.options.timeoutMs} ms`)),
      );
    });
    try {
      const result = await Promise.race([operation(), deadline]);
      if (this.stats.degraded) {
        this.stats.degraded = false;
        this.options.log(`state store ${this.options.kind} reachable again: resynchronised`, {
          event: "store_recovered",
          store: this.options.kind,
        });
      }
      return result;
    } catch (error) {
      this.stats.errors++;
      this.stats.lastError = (error as Error).message;
      if (!this.stats.degraded) {
        this.stats.degraded = true;
        this.options.log(
          `state store ${this.options.kind} unreachable (${this.stats.lastError}): serving from the last view and local counters`,
          { event: "store_degraded", store: this.options.kind, reason: this.stats.lastError },
        );
      }
      throw error;
    } finally {
      cancel?.();
    }
  }
}
