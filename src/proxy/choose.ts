import type { CandidateWalk } from "../balancer/candidate-walk.ts";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import type { Backend } from "../shared/backend.ts";
import type { BackendSnapshot } from "../state/types.ts";
import type { Session, SessionAffinity } from "./affinity/session-affinity.ts";
import { outUntilRecovered, sessionTarget } from "./affinity/session-target.ts";
import type { RequestContext } from "./request-context.ts";
import { startWalk } from "./start-walk.ts";

/**
 * The backends one request tries, in order, and what its session (if any) becomes: without
 * affinity, the pool's candidate walk; with it, the session's own backend first while it can
 * serve, then the walk. A request that stays on its session's backend never touches the
 * rotation (no sequence position), so round robin counts sessions, not their requests.
 */
export interface Choice {
  /** The next backend to try; undefined when none is left. */
  next(): Promise<Backend | undefined>;
  /** Backends handed out so far. */
  readonly tried: ReadonlySet<string>;
  /** Whether the request may move on after `failed` failed (ZERO_DOWNTIME_FAILOVER=none: not off its session's backend). */
  mayMoveOn(failed: Backend): boolean;
  /** Once `served` has answered: the Set-Cookie the response carries so the session stays right. */
  settle(served: Backend): Promise<string | undefined>;
  /**
   * After settle, for the access log: the session's backend served it (kept), it had none yet
   * (new), it moved to another (moved) or was served elsewhere and stays (held). Undefined
   * without affinity.
   */
  readonly sessionOutcome: string | undefined;
}

export async function choose(request: Request, pool: PoolRuntime, ctx: RequestContext): Promise<Choice | Response> {
  const affinity = ctx.affinity;
  const session = affinity ? await affinity.read(request) : undefined;
  if (!affinity || !session) {
    const walk = await startWalk(request, pool, ctx);
    return walk instanceof Response ? walk : new WalkChoice(walk);
  }
  const snapshot = await pool.state.ready(ctx.defer);
  const name = session.backend;
  const record = name ? snapshot.backends[name] : undefined;
  const now = Date.now();
  const target = sessionTarget(pool.spec.backends, name, record, now);
  const held = !target && holds(affinity, pool, name, record, now);
  const choice = new SessionChoice(request, pool, ctx, affinity, session, target, held);
  if (!target) {
    // Nothing to stick to: the rotation must have something, or the answer is its 503.
    const walk = await choice.walk();
    if (walk instanceof Response) return walk;
  }
  return choice;
}

/** "temporary" keeps a session whose backend only health checks or ejection hold out: it returns after. */
function holds(
  affinity: SessionAffinity,
  pool: PoolRuntime,
  name: string | undefined,
  record: BackendSnapshot | undefined,
  now: number,
): boolean {
  return affinity.spec.failover === "temporary" && outUntilRecovered(pool.spec.backends, name, record, now);
}

class WalkChoice implements Choice {
  readonly sessionOutcome = undefined;

  constructor(private readonly candidates: CandidateWalk) {}

  get tried(): ReadonlySet<string> {
    return this.candidates.tried;
  }

  next(): Promise<Backend | undefined> {
    return Promise.resolve(this.candidates.next());
  }

  mayMoveOn(): boolean {
    return true;
  }

  settle(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

class SessionChoice implements Choice {
  readonly #tried = new Set<string>();
  #walk: Promise<CandidateWalk | Response> | undefined;
  /** Header mode: where the store has the session after this request's claim. */
  #claimed: string | undefined;
  /** The session stays on its backend, out for now (temporary failover): served elsewhere, not moved. */
  #held: boolean;
  sessionOutcome: string | undefined;

  constructor(
    private readonly request: Request,
    private readonly pool: PoolRuntime,
    private readonly ctx: RequestContext,
    private readonly affinity: SessionAffinity,
    private readonly session: Session,
    /** The session's own backend, when it can still serve. */
    private readonly target: Backend | undefined,
    held: boolean,
  ) {
    this.#held = held;
  }

  get tried(): ReadonlySet<string> {
    return this.#tried;
  }

  /** The pool's walk, started once: ip_cookie places a new session by the client's address. */
  walk(): Promise<CandidateWalk | Response> {
    this.#walk ??= startWalk(this.request, this.pool, this.ctx, this.affinity.spec.mode === "ip_cookie");
    return this.#walk;
  }

  async next(): Promise<Backend | undefined> {
    if (this.target && !this.#tried.has(this.target.name)) return this.#hand(this.target);
    const walk = await this.walk();
    if (walk instanceof Response) return undefined;
    let backend = walk.next();
    while (backend && this.#tried.has(backend.name)) backend = walk.next();
    if (!backend) return undefined;
    if (this.session.key !== undefined && this.#claimed === undefined && !this.target && !this.#held) {
      // A header session not confirmed lately: the store's placement wins over ours.
      this.#claimed = await this.affinity.claim(this.session, backend.name, this.session.backend);
      const placed = this.pool.spec.backends.find((b) => b.name === this.#claimed);
      const record = placed ? this.pool.state.snapshot.backends[placed.name] : undefined;
      const now = Date.now();
      if (placed && placed !== backend && !this.#tried.has(placed.name)) {
        if (sessionTarget(this.pool.spec.backends, placed.name, record, now)) return this.#hand(placed);
      }
      this.#held =
        placed !== undefined && placed !== backend && holds(this.affinity, this.pool, placed.name, record, now);
    }
    return this.#hand(backend);
  }

  mayMoveOn(failed: Backend): boolean {
    return !(this.affinity.spec.failover === "none" && failed === this.target);
  }

  async settle(served: Backend): Promise<string | undefined> {
    const { affinity, session, target } = this;
    const stayed = served === target;
    if (stayed) this.pool.metrics.affinity(served.name);
    // The session's backend failed, or is out until it recovers, and another served:
    // "temporary" keeps the session where it was, so it returns then; "sticky" moves it here.
    const failedOver = (target !== undefined || this.#held) && !stayed;
    const moves = !stayed && !(failedOver && affinity.spec.failover === "temporary");
    this.sessionOutcome = stayed ? "kept" : !moves ? "held" : session.backend === undefined ? "new" : "moved";
    if (session.key !== undefined) {
      if (moves && served.name !== this.#claimed) {
        await affinity.claim(session, served.name, this.#claimed ?? session.backend);
      }
      return undefined;
    }
    if (moves || (stayed && session.renew)) return affinity.cookieFor(served.name);
    return undefined;
  }

  #hand(backend: Backend): Backend {
    this.#tried.add(backend.name);
    return backend;
  }
}
