// Simulated backends: heterogeneous capacity and latency, failures at set times, and the true
// number of requests in flight at each (what an oracle balancer would see).
import type { Backend } from "../../src/shared/backend.ts";
import type { SimClock } from "./clock.ts";
import { logNormal } from "./random.ts";

export interface BackendModel {
  readonly name: string;
  readonly weight: number;
  /** Requests in flight it serves at its base latency; beyond that each one slows in proportion. */
  readonly capacity: number;
  readonly medianMs: number;
  readonly p99Ms: number;
}

/** A backend failing from `at` until `until` (ms since the start; open-ended without it). */
export interface BackendFailure {
  readonly backend: string;
  readonly at: number;
  readonly until?: number;
  /** refuse: connection refused at once; hang: no answer until the try times out; status: 503. */
  readonly mode: "refuse" | "hang" | "status";
}

export type Outcome =
  | { readonly kind: "response"; readonly status: number; readonly latencyMs: number }
  | { readonly kind: "unreachable" | "timeout"; readonly latencyMs: number };

export class SimBackends {
  readonly list: readonly Backend[];
  /** True in-flight requests per backend, over every instance. */
  readonly inflight = new Map<string, number>();
  readonly #models = new Map<string, { model: BackendModel; latency: () => number }>();

  constructor(
    private readonly clock: SimClock,
    models: readonly BackendModel[],
    private readonly failures: readonly BackendFailure[],
    private readonly start: number,
    random: () => number,
  ) {
    this.list = models.map((m) => ({ name: m.name, url: `http://${m.name}.sim`, weight: m.weight, backup: false }));
    for (const model of models) {
      this.#models.set(model.name, { model, latency: logNormal(random, model.medianMs, model.p99Ms) });
      this.inflight.set(model.name, 0);
    }
  }

  /** How `backend` fails at `now`, if it does. */
  failing(backend: string, now = this.clock.now()): BackendFailure | undefined {
    const since = now - this.start;
    return this.failures.find(
      (f) => f.backend === backend && since >= f.at && (f.until === undefined || since < f.until),
    );
  }

  /** One try: resolves when the backend has answered, failed, or the try timed out. */
  async serve(backend: string, timeoutMs: number): Promise<Outcome> {
    const failure = this.failing(backend);
    if (failure?.mode === "refuse") {
      await this.clock.sleep(1);
      return { kind: "unreachable", latencyMs: 1 };
    }
    if (failure?.mode === "hang") {
      await this.clock.sleep(timeoutMs);
      return { kind: "timeout", latencyMs: timeoutMs };
    }
    const { model, latency } = this.#models.get(backend)!;
    const inflight = this.inflight.get(backend)! + 1;
    this.inflight.set(backend, inflight);
    const ms = Math.min(timeoutMs, latency() * Math.max(1, inflight / model.capacity));
    await this.clock.sleep(ms);
    this.inflight.set(backend, this.inflight.get(backend)! - 1);
    if (ms >= timeoutMs) return { kind: "timeout", latencyMs: ms };
    return { kind: "response", status: failure?.mode === "status" ? 503 : 200, latencyMs: ms };
  }

  /** The health check's view: a fetch that answers as the backend would, on the simulated clock. */
  readonly probeFetch: typeof fetch = async (input) => {
    const name = new URL(String(input)).hostname.replace(/\.sim$/, "");
    const outcome = await this.serve(name, 2_000);
    if (outcome.kind !== "response") throw new Error(outcome.kind === "timeout" ? "probe timed out" : "ECONNREFUSED");
    return new Response(null, { status: outcome.status });
  };
}
