// The header-affinity rows (`<runtime>-rr-upstash-header`): round robin on the upstash store with
// AFFINITY=header, loaded with an X-Session value drawn uniformly at random from a fixed set of
// sessions on every request. Issue 12 promises that a header session costs at most one store
// round trip (a claim) per instance per TTL, its placement then coming from the instance's
// cache: these rows count the claims (GET /_lb/status, pools[].store.sessionClaims) beside the
// store round trips they are part of.

import { fmt } from "./cells.ts";
import { nodeGenerator, type SessionLoad } from "./load.ts";
import type { RowResult, TargetCheck } from "./report.ts";
import { balancerRow, type RowSpec, type Runtime } from "./targets.ts";

export const SESSION_HEADER = "X-Session";

/**
 * Distinct sessions the load draws from. A tiny run (400 requests) uses fewer, so each session
 * comes back several times and a claim that was not cached would show.
 */
export function sessionCount(mode: "full" | "quick" | "tiny"): number {
  return mode === "tiny" ? 100 : 1_000;
}

export function headerAffinityRow(runtime: Runtime, sessions: number): RowSpec {
  const row = balancerRow(runtime, "round-robin", "upstash");
  return {
    ...row,
    id: `${row.id}-header`,
    what: `${row.what}, header affinity (${sessions} sessions)`,
    affinity: { header: SESSION_HEADER, count: sessions },
  };
}

/** The load spec's session part for a row: only header-affinity rows send sessions. */
export function sessionLoad(row: RowSpec): { session?: SessionLoad } {
  return row.affinity ? { session: row.affinity } : {};
}

/**
 * Before the warm-up, a header row's server gets every session once (distinct keys, so no two
 * are in flight together): their placements are claimed and cached then, and the measured
 * window shows the steady state however fast the runtime warms up.
 */
export async function primeSessions(url: string, row: RowSpec, connections: number): Promise<void> {
  if (!row.affinity) return;
  const session = { ...row.affinity, inTurn: true };
  const load = await nodeGenerator().run(url, { connections, requests: session.count, session });
  if (load.errors > 0) throw new Error(`${load.errors} of the ${session.count} session placements failed`);
}

export interface StoreCounts {
  readonly roundTrips: number;
  readonly sessionClaims: number;
}

/** The balancer's store counters summed over its pools (GET /_lb/status). */
export async function storeCounts(statusUrl: string, token: string): Promise<StoreCounts> {
  const response = await fetch(statusUrl, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 200) throw new Error(`${statusUrl} answered ${response.status}: ${await response.text()}`);
  const status = (await response.json()) as { pools: Array<{ store: StoreCounts }> };
  let roundTrips = 0;
  let sessionClaims = 0;
  for (const { store } of status.pools) {
    roundTrips += store.roundTrips;
    // A balancer without header affinity may not report claims at all: none were made.
    sessionClaims += store.sessionClaims ?? 0;
  }
  return { roundTrips, sessionClaims };
}

/** What one edge-lb row's counters say about session claims (before and after the measured window). */
export interface ClaimCounts {
  /** Claims during the measured window. */
  readonly window: number;
  /** Claims since the server started: the warm-up's and the measured window's. */
  readonly sinceStart: number;
}

export function claimCounts(before: StoreCounts, after: StoreCounts): ClaimCounts {
  return { window: Math.max(0, after.sessionClaims - before.sessionClaims), sinceStart: after.sessionClaims };
}

/** The RowResult fields about sessions: claims for every edge-lb row, sessions for header rows. */
export function claimFields(
  row: RowSpec,
  claims: ClaimCounts | undefined,
  requests: number,
): Pick<RowResult, "sessions" | "sessionClaimsPerRequest" | "sessionClaimsSinceStart"> {
  return {
    sessions: row.affinity?.count ?? null,
    sessionClaimsPerRequest: claims && requests > 0 ? claims.window / requests : null,
    sessionClaimsSinceStart: claims?.sinceStart ?? null,
  };
}

/** Whether a row is a header-affinity row (its costs are reported apart from plain round robin's). */
export function isHeaderAffinity(row: Pick<RowResult, "sessions">): boolean {
  return row.sessions !== null && row.sessions !== undefined;
}

/** One claim per session per instance per TTL: the claims since start ÷ the sessions the load drew from. */
export function headerAffinityTargets(rows: readonly RowResult[]): TargetCheck[] {
  const measured = rows.filter((r) => !r.failed && isHeaderAffinity(r) && r.sessionClaimsSinceStart !== null);
  if (measured.length === 0) return [];
  const perSession = (r: RowResult) => r.sessionClaimsSinceStart! / r.sessions!;
  const figures = measured
    .map(
      (r) =>
        `${r.id} ${r.sessionClaimsSinceStart} claims for ${r.sessions} sessions (${fmt.ratio(perSession(r))} per session, ${fmt.trips(r.sessionClaimsPerRequest)} per request measured)`,
    )
    .join("; ");
  return [
    {
      target:
        "header affinity: ≤ 1 store claim per session per instance per TTL (since the server started: placements, warm-up, measured window)",
      value: figures,
      met: measured.every((r) => perSession(r) <= 1),
    },
  ];
}

export const CLAIMS_NOTE =
  `claims/req = of those round trips, the header-affinity session claims (pools[].store.sessionClaims) ÷ requests; ` +
  `the \`-header\` rows run round robin on upstash with AFFINITY=header, AFFINITY_HEADERS=${SESSION_HEADER}, ` +
  `and the load sends each request with an ${SESSION_HEADER} value drawn uniformly at random from a fixed set of sessions ` +
  "(the row's what says how many), each of which was sent once before the warm-up (its placement), so the measured window is the steady state; " +
  "the claims since the server started are under Targets.";
