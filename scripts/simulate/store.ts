// The simulated store: the project's MemoryStore (the same snapshot code the Durable Object runs)
// on the simulated clock, behind a network with a latency distribution, error and outage periods
// and a per-object request limit like a Durable Object's (requests beyond it queue, and fail as
// overloaded once the queue is too long). It counts every call it is offered, per second and per
// operation: the figures the store would bill.
import { MemoryStore } from "../../src/state/memory.ts";
import type { BackendPatch, InstanceReport, PoolSnapshot, StateStore } from "../../src/state/types.ts";
import type { SimClock } from "./clock.ts";

export interface StoreModel {
  /** One round trip's latency (ms), drawn per call. */
  readonly latencyMs: () => number;
  /** Share of calls that fail outright (0..1). */
  readonly errorRate: number;
  /** Periods (ms since the start) when every call fails at once ("refuse") or never answers ("hang"). */
  readonly outages: readonly { readonly from: number; readonly to: number; readonly mode: "refuse" | "hang" }[];
  /** Requests per second one object serves (a Durable Object's soft limit: about 1,000); 0 = no limit. */
  readonly ratePerSecond: number;
  /** A request that would wait longer than this for the object fails as overloaded. */
  readonly maxQueueMs: number;
}

export type StoreOp = "reserve" | "sync" | "setBackend" | "tryLock" | "claimSession";
export const STORE_OPS: readonly StoreOp[] = ["reserve", "sync", "setBackend", "tryLock", "claimSession"];

export class SimStore implements StateStore {
  readonly kind = "durable-object" as const;
  readonly memory: MemoryStore;
  /** Calls offered, per whole second since the start, per operation. */
  readonly perSecond = new Map<StoreOp, number[]>(STORE_OPS.map((op) => [op, []]));
  /** Calls refused: overloaded, error or outage. */
  failures = 0;
  overloaded = 0;
  /** Every backend patch the store accepted: who marked what, when (failover detection). */
  readonly patches: { at: number; backend: string; patch: BackendPatch }[] = [];
  /** The time the object is busy until (serial service at ratePerSecond). */
  #busyUntil = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly model: StoreModel,
    private readonly start: number,
    private readonly random: () => number,
  ) {
    this.memory = new MemoryStore(clock.now);
  }

  reserve(pool: string, count: number): Promise<number> {
    return this.#call("reserve", () => this.memory.reserve(pool, count));
  }

  sync(pool: string, report: InstanceReport | undefined): Promise<PoolSnapshot> {
    return this.#call("sync", () => this.memory.sync(pool, report));
  }

  setBackend(pool: string, backend: string, patch: BackendPatch): Promise<void> {
    return this.#call("setBackend", async () => {
      await this.memory.setBackend(pool, backend, patch);
      this.patches.push({ at: this.clock.now(), backend, patch });
    });
  }

  tryLock(pool: string, name: string, ttlMs: number): Promise<boolean> {
    return this.#call("tryLock", () => this.memory.tryLock(pool, name, ttlMs));
  }

  claimSession(pool: string, key: string, backend: string, ttlMs: number, replacing?: string): Promise<string> {
    return this.#call("claimSession", () => this.memory.claimSession(pool, key, backend, ttlMs, replacing));
  }

  /** Calls offered in second `s` (all operations). */
  callsIn(second: number): number {
    let sum = 0;
    for (const series of this.perSecond.values()) sum += series[second] ?? 0;
    return sum;
  }

  /**
   * One call: counted, then refused (outage, error, overload) or applied, and answered one round
   * trip later (plus its wait for the object). The state changes when the call arrives rather
   * than half a round trip later: one event per call instead of two, and no difference that a
   * measurement here can see.
   */
  async #call<T>(op: StoreOp, operation: () => Promise<T>): Promise<T> {
    const clock = this.clock;
    const now = clock.now();
    const second = Math.floor((now - this.start) / 1000);
    const series = this.perSecond.get(op)!;
    series[second] = (series[second] ?? 0) + 1;
    const rtt = this.model.latencyMs();
    const since = now - this.start;
    const outage = this.model.outages.find((o) => since >= o.from && since < o.to);
    if (outage?.mode === "hang") return new Promise<T>(() => undefined);
    let wait = 0;
    let refused = outage !== undefined || this.random() < this.model.errorRate;
    if (!refused && this.model.ratePerSecond > 0) {
      const startsAt = Math.max(now, this.#busyUntil);
      wait = startsAt - now;
      if (wait > this.model.maxQueueMs) {
        refused = true;
        wait = 0;
        this.overloaded++;
      } else this.#busyUntil = startsAt + 1000 / this.model.ratePerSecond;
    }
    if (refused) {
      this.failures++;
      await clock.sleep(rtt);
      throw new Error(outage ? "store unreachable" : "store refused the call");
    }
    const result = await operation();
    await clock.sleep(rtt + wait);
    return result;
  }
}
