// SYNC_BUDGET (PoolStateOptions.syncBudget): the pool state of one instance among many, on a clock
// the test moves, against a MemoryStore that already counts a large fleet live.
import { describe, expect, it } from "vitest";
import { HealthChecker } from "../../src/health/health-checker.ts";
import { MemoryStore } from "../../src/state/memory.ts";
import { PoolState, type PoolStateOptions } from "../../src/state/pool-state.ts";
import type { InstanceReport, StateStore } from "../../src/state/types.ts";
import { type ManualTime, manualTime, settle } from "../support/manual-time.ts";

const START = 1_700_000_000_000;

/** A MemoryStore on the test's clock that counts calls and keeps the reports it was sent. */
function countingStore(time: ManualTime) {
  const memory = new MemoryStore(time.now);
  const calls = { reserve: 0, sync: 0, tryLock: 0 };
  const reports: InstanceReport[] = [];
  const store: StateStore = {
    kind: "memory",
    reserve: (pool, count) => {
      calls.reserve++;
      return memory.reserve(pool, count);
    },
    sync: (pool, report) => {
      calls.sync++;
      if (report) reports.push(report);
      return memory.sync(pool, report);
    },
    setBackend: (pool, backend, patch) => memory.setBackend(pool, backend, patch),
    tryLock: (pool, name, ttlMs) => {
      calls.tryLock++;
      return memory.tryLock(pool, name, ttlMs);
    },
    claimSession: (pool, key, backend, ttlMs) => memory.claimSession(pool, key, backend, ttlMs),
  };
  return { memory, store, calls, reports };
}

/** `n` other instances the store counts live for the next hour. */
async function fleet(memory: MemoryStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await memory.sync("p", { instance: `other-${i}`, inflight: {}, latency: {}, ttlMs: 1_000, liveMs: 3_600_000 });
  }
}

function poolState(store: StateStore, time: ManualTime, overrides: Partial<PoolStateOptions> = {}) {
  return new PoolState(store, {
    pool: "p",
    instance: "me",
    maxBatch: 64,
    syncIntervalMs: 1_000,
    syncBudget: 400,
    reportGapMs: 50,
    loadAware: false,
    inflightTtlMs: 15_000,
    storeTimeoutMs: 200,
    clock: time.now,
    timers: time.timers,
    log: () => undefined,
    ...overrides,
  });
}

const runs: Promise<unknown>[] = [];
const defer = (work: Promise<unknown>) => void runs.push(work);

/** One request of 50 ms: the view, then in flight and done. */
async function request(pool: PoolState, time: ManualTime): Promise<void> {
  await pool.ready(defer);
  const end = pool.begin("x", defer);
  time.advance(50);
  end({ latencyMs: 50 });
  await settle();
}

describe("SYNC_BUDGET: one instance among 10,000", () => {
  it("syncs once per live instances / budget (25 s) while requests flow, whatever its own traffic", async () => {
    const time = manualTime({ start: START });
    const { memory, store, calls } = countingStore(time);
    await fleet(memory, 9_999);
    const pool = poolState(store, time);
    await pool.ready(defer);
    expect(pool.liveInstances).toBe(10_000);
    expect(pool.syncIntervalMs).toBe(25_000);
    // Ten requests a second for a minute.
    for (let i = 0; i < 600; i++) {
      await request(pool, time);
      time.advance(50);
      await settle();
    }
    // The cold sync, then one each 25 s: at 25 and 50 s.
    expect(calls.sync).toBe(3);
  });

  it("a request after a quiet spell longer than the interval waits for a fresh view; below the budget it does not", async () => {
    const time = manualTime({ start: START });
    const { memory, store } = countingStore(time);
    await fleet(memory, 9_999);
    const pool = poolState(store, time);
    await pool.ready(defer);
    await memory.setBackend("p", "x", { admin: "disabled" });
    time.advance(24_000);
    // Within the interval: the view it has (the change is not seen yet), and no wait.
    expect((pool.ready(defer) as { backends: Record<string, unknown> }).backends["x"]).toBeUndefined();
    time.advance(1_000);
    const fresh = pool.ready(defer);
    expect(fresh).toBeInstanceOf(Promise);
    expect((await fresh).backends["x"]).toMatchObject({ admin: "disabled" });

    // Three instances: well within the budget, a quiet instance serves from its last view at once.
    const small = countingStore(time);
    await fleet(small.memory, 2);
    const quiet = poolState(small.store, time);
    await quiet.ready(defer);
    time.advance(60_000);
    expect(quiet.ready(defer)).not.toBeInstanceOf(Promise);
  });

  it("past the budget takes sequence positions from a local rotation of whole turns, no store call; SEQUENCE_BATCH below a turn still reserves", async () => {
    const time = manualTime({ start: START });
    const { memory, store, calls } = countingStore(time);
    await fleet(memory, 9_999);
    const pool = poolState(store, time);
    await pool.ready(defer);
    const seqs: number[] = [];
    for (let i = 0; i < 30; i++) seqs.push(await pool.nextSeq(3));
    expect(calls.reserve).toBe(0);
    // Consecutive positions: every backend of three exactly ten times.
    expect(seqs.map((s, i) => s - seqs[0]! - i)).toEqual(Array(30).fill(0));
    const exact = poolState(store, time, { instance: "exact", maxBatch: 1 });
    await exact.ready(defer);
    for (let i = 0; i < 5; i++) await exact.nextSeq(3);
    expect(calls.reserve).toBe(5);
  });

  it("asks to be counted live until about its next sync, and keeps its in-flight counts three heartbeats", async () => {
    const time = manualTime({ start: START });
    const { memory, store, reports } = countingStore(time);
    await fleet(memory, 9_999);
    const pool = poolState(store, time);
    await pool.ready(defer);
    time.advance(30_000);
    await pool.refresh();
    const last = reports.at(-1)!;
    // 1.5 times the time since its last sync (30 s), which lies between one and two intervals.
    expect(last.liveMs).toBe(45_000);
    expect(last.ttlMs).toBe(75_000);
  });

  it("without a budget, nothing of this: one second, the live count ignored", async () => {
    const time = manualTime({ start: START });
    const { memory, store, calls } = countingStore(time);
    await fleet(memory, 9_999);
    const pool = poolState(store, time, { syncBudget: 0 });
    await pool.ready(defer);
    expect([pool.liveInstances, pool.syncIntervalMs]).toEqual([1, 1_000]);
    await pool.nextSeq(3);
    expect(calls.reserve).toBe(1);
  });

  it("health checks: one of 10,000 instances tries the group's lock its share of the time, not every quarter interval", async () => {
    const attempts = async (others: number): Promise<number> => {
      const time = manualTime({ start: START });
      const { memory, store, calls } = countingStore(time);
      await fleet(memory, others);
      // In a fleet another instance holds the group's round: this one's tries lose. (Left free, a
      // first try drawn inside the 100 s, ~1.6% of runs, won and rightly ran a round each interval.)
      if (others > 0) await memory.tryLock("p", "health", 3_600_000);
      const pool = poolState(store, time);
      await pool.ready(defer);
      const check = {
        path: "/",
        method: "GET" as const,
        expectedStatus: ["2xx"],
        headers: {},
        timeoutMs: 1_000,
        intervalMs: 10_000,
        rise: 1,
        fall: 1,
      };
      const backend = { name: "x", url: "http://x.test", weight: 1, backup: false };
      const checker = new HealthChecker(
        check,
        [backend],
        pool,
        () => undefined,
        async () => new Response(null),
        time.now,
      );
      // A request every 100 ms for 100 s, each asking whether a round is due.
      for (let i = 0; i < 1_000; i++) {
        checker.maybeRun(defer);
        time.advance(100);
        await settle();
      }
      return calls.tryLock;
    };
    // Alone it wins every round it tries: one each interval, 10 in 100 s. One of 10,000 tries at most
    // once in 10,000 quarter intervals (its first try spread over that), so none or one here.
    expect(await attempts(0)).toBe(10);
    expect(await attempts(9_999)).toBeLessThanOrEqual(1);
  });
});
