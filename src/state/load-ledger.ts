import type { LatencyEstimate, LoadView } from "../shared/backend.ts";
import { foldLatency, type LatencySummary } from "../shared/latency.ts";
import type { InstanceReport, PoolSnapshot } from "./types.ts";

export interface LoadLedgerOptions {
  /** Unique per isolate/process: owns the in-flight counts it reports. */
  readonly instance: string;
  /** How long a report's in-flight figures count at the store without a newer one. */
  readonly inflightTtlMs: number;
  readonly clock: () => number;
}

/** Ends one request's count; false when it was already ended (a second call changes nothing). */
export type EndRequest = (outcome: { latencyMs?: number }) => boolean;

/**
 * This instance's load accounting: requests in flight per backend, latency samples since the
 * last report, and the view selection reads, which merges the shared snapshot with what changed
 * here since (so the instance's own requests count at once, and never twice).
 */
export class LoadLedger {
  readonly view: LoadView;

  readonly #inflight = new Map<string, number>();
  #total = 0;
  /** The in-flight figures of the last report the store accepted: already in the snapshot. */
  #reported: Readonly<Record<string, number>> = {};
  #dirty = false;
  readonly #samples = new Map<string, { count: number; sumMs: number }>();
  readonly #latency = new Map<string, LatencyEstimate>();

  constructor(
    /** The pool's shared view as last read. */
    private readonly shared: () => PoolSnapshot,
    private readonly options: LoadLedgerOptions,
  ) {
    const self = this;
    this.view = {
      inflight(name) {
        const shared = self.shared().backends[name]?.inflight ?? 0;
        const mineNow = self.#inflight.get(name) ?? 0;
        const mineInShared = self.#reported[name] ?? 0;
        return Math.max(0, shared - mineInShared) + mineNow;
      },
      latency(name) {
        const local = self.#latency.get(name);
        const shared = self.shared().backends[name]?.latency;
        if (!local) return shared;
        if (!shared) return local;
        return local.updatedAt >= shared.updatedAt ? local : shared;
      },
    };
  }

  /** Requests in flight from this instance, all backends. */
  get inflightTotal(): number {
    return this.#total;
  }

  /** Whether in-flight counts changed since the last report was taken. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** Counts a request to `backend` as in flight; the returned function ends it. */
  begin(backend: string): EndRequest {
    this.#inflight.set(backend, (this.#inflight.get(backend) ?? 0) + 1);
    this.#total++;
    this.#dirty = true;
    let ended = false;
    return ({ latencyMs }) => {
      if (ended) return false;
      ended = true;
      this.#inflight.set(backend, (this.#inflight.get(backend) ?? 1) - 1);
      this.#total--;
      this.#dirty = true;
      if (latencyMs !== undefined) this.#record(backend, latencyMs);
      return true;
    };
  }

  #record(backend: string, latencyMs: number): void {
    const now = this.options.clock();
    this.#latency.set(backend, foldLatency(this.view.latency(backend), latencyMs, now));
    const sample = this.#samples.get(backend);
    if (sample) {
      sample.count++;
      sample.sumMs += latencyMs;
    } else this.#samples.set(backend, { count: 1, sumMs: latencyMs });
  }

  /**
   * This instance's report: in-flight counts now (absolute) and the latency samples since the
   * last one, which it takes; hand it to `accepted` or `rejected` once the store has answered.
   */
  takeReport(): InstanceReport {
    const inflight: Record<string, number> = {};
    for (const [backend, count] of this.#inflight) if (count > 0) inflight[backend] = count;
    const latency: Record<string, LatencySummary> = {};
    for (const [backend, sample] of this.#samples) {
      latency[backend] = { count: sample.count, meanMs: sample.sumMs / sample.count };
    }
    this.#samples.clear();
    this.#dirty = false;
    return { instance: this.options.instance, inflight, latency, ttlMs: this.options.inflightTtlMs };
  }

  /** The store has `report`: the snapshot read with it already counts its in-flight figures. */
  accepted(report: InstanceReport): void {
    this.#reported = report.inflight;
  }

  /** The store never got `report`: its samples go back so the next report still carries them. */
  rejected(report: InstanceReport): void {
    for (const [backend, summary] of Object.entries(report.latency)) {
      const sample = this.#samples.get(backend) ?? { count: 0, sumMs: 0 };
      sample.count += summary.count;
      sample.sumMs += summary.meanMs * summary.count;
      this.#samples.set(backend, sample);
    }
    this.#dirty = true;
  }
}
