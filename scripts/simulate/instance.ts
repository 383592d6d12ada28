// One simulated instance, built from the project's own parts exactly as src/pool/pool-runtime.ts
// wires them (PoolState with its sequence blocks, sync and reporter; the rotation cache and the
// algorithm's selector; passive health; the active checker), on the simulated clock. Its request
// path follows src/proxy/start-walk.ts and handle-proxy.ts for a GET: the shared view, a due
// health round, the rotation, a sequence position, the candidate walk, then tries with retries
// within the budget, each try counted in flight and its outcome fed to passive health.
import type { AvailabilityPolicy } from "../../src/balancer/availability.ts";
import { CandidateWalk } from "../../src/balancer/candidate-walk.ts";
import { type Algorithm, algorithmNamed } from "../../src/balancer/registry.ts";
import { RotationCache } from "../../src/balancer/rotation.ts";
import { HealthChecker } from "../../src/health/health-checker.ts";
import type { OutlierPolicy } from "../../src/health/outlier.ts";
import { PassiveHealth } from "../../src/health/passive-health.ts";
import { RetryBudget } from "../../src/pool/retry-budget.ts";
import type { Backend, LoadView } from "../../src/shared/backend.ts";
import type { Defer } from "../../src/shared/defer.ts";
import type { ProbeSpec } from "../../src/shared/probe-spec.ts";
import { PoolState, type PoolStateOptions } from "../../src/state/pool-state.ts";
import type { StateStore } from "../../src/state/types.ts";
import type { SimBackends } from "./backends.ts";
import type { SimClock } from "./clock.ts";

export interface InstanceOptions {
  readonly algorithm: Algorithm;
  readonly state: Omit<PoolStateOptions, "pool" | "instance" | "loadAware" | "log" | "clock" | "timers">;
  readonly outlier: OutlierPolicy;
  readonly availability: AvailabilityPolicy;
  readonly healthCheck: ProbeSpec | undefined;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
}

export interface RequestResult {
  /** The first backend tried (the algorithm's choice), if any. */
  readonly first: string | undefined;
  /** The backend that answered 2xx, if any. */
  readonly served: string | undefined;
  readonly attempts: number;
  readonly latencyMs: number;
}

/** Background work runs on (the server runtimes' way: nothing cuts it off). */
const background: Defer = (work) => void work.catch(() => undefined);

export class SimInstance {
  readonly state: PoolState;
  readonly #rotation: RotationCache;
  readonly #passive: PassiveHealth;
  readonly #checker: HealthChecker | undefined;
  readonly #budget = new RetryBudget();
  readonly #needs: string;

  constructor(
    readonly name: string,
    store: StateStore,
    private readonly clock: SimClock,
    private readonly backends: SimBackends,
    private readonly options: InstanceOptions,
    private readonly random: () => number,
    /** Least connections against an oracle: the true in-flight counts instead of the shared view. */
    private readonly oracle?: LoadView,
  ) {
    const algorithm = algorithmNamed(options.algorithm);
    this.#needs = algorithm.needs;
    this.state = new PoolState(store, {
      ...options.state,
      pool: "default",
      instance: name,
      loadAware: algorithm.needs === "load",
      clock: clock.now,
      timers: clock,
      log: () => undefined,
    });
    this.#rotation = new RotationCache(algorithm, backends.list, options.availability);
    this.#passive = new PassiveHealth(options.outlier, this.state, () => undefined, clock.now);
    this.#checker = options.healthCheck
      ? new HealthChecker(
          options.healthCheck,
          backends.list,
          this.state,
          () => undefined,
          backends.probeFetch,
          clock.now,
        )
      : undefined;
  }

  async handle(): Promise<RequestResult> {
    const startedAt = this.clock.now();
    const snapshot = await this.state.ready(background);
    this.#checker?.maybeRun(background);
    const now = this.clock.now();
    const rotation = this.#rotation.current(snapshot, now);
    if (rotation.available === 0) return { first: undefined, served: undefined, attempts: 0, latencyMs: 0 };
    const seq = this.#needs === "sequence" ? await this.state.nextSeq(rotation.granule) : 0;
    const walk = new CandidateWalk(
      rotation.selector,
      { seq, key: "", load: this.oracle ?? this.state.load, random: this.random, now },
      rotation,
    );
    let backend: Backend | undefined = walk.next();
    const first = backend?.name;
    let attempts = 0;
    while (backend) {
      attempts++;
      const end = this.state.begin(backend.name, background);
      const outcome = await this.backends.serve(backend.name, this.options.timeoutMs);
      end(outcome.kind === "response" ? { latencyMs: outcome.latencyMs } : {});
      const failed = outcome.kind !== "response" || outcome.status >= 500;
      this.#passive.record(backend, failed ? outcome.kind : undefined, background);
      if (!failed) {
        this.#budget.earn();
        return { first, served: backend.name, attempts, latencyMs: this.clock.now() - startedAt };
      }
      // handle-proxy's moveOn for a GET: never past max attempts; a refused connection always
      // moves on, a timeout or 5xx only within the retry budget.
      if (attempts >= this.options.maxAttempts) break;
      const next = walk.next();
      if (!next || (outcome.kind !== "unreachable" && !this.#budget.trySpend())) break;
      backend = next;
    }
    return { first, served: undefined, attempts, latencyMs: this.clock.now() - startedAt };
  }
}
