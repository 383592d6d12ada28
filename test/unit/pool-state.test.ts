import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/state/memory.ts";
import { PoolState, type PoolStateOptions } from "../../src/state/pool-state.ts";
import type { InstanceReport, PoolSnapshot, StateStore } from "../../src/state/types.ts";
import { type ManualTime, manualTime } from "../support/manual-time.ts";

/** A MemoryStore that can be switched off, recording the reports that reached it. */
function fakeStore(time: ManualTime) {
  const memory = new MemoryStore(time.now);
  const state = { down: false, reports: [] as InstanceReport[], reportedAt: [] as number[] };
  const refuse = () => Promise.reject(new Error("ECONNREFUSED"));
  const store: StateStore = {
    kind: "memory",
    reserve: (pool, count) => (state.down ? refuse() : memory.reserve(pool, count)),
    sync: (pool, report): Promise<PoolSnapshot> => {
      if (state.down) return refuse();
      if (report) {
        state.reports.push(report);
        state.reportedAt.push(time.now());
      }
      return memory.sync(pool, report);
    },
    setBackend: (pool, backend, patch) => (state.down ? refuse() : memory.setBackend(pool, backend, patch)),
    tryLock: (pool, name, ttlMs) => (state.down ? refuse() : memory.tryLock(pool, name, ttlMs)),
    claimSession: (pool, key, backend, ttlMs) =>
      state.down ? refuse() : memory.claimSession(pool, key, backend, ttlMs),
  };
  return { store, memory, state };
}

function poolState(store: StateStore, time: ManualTime, lines: string[], overrides: Partial<PoolStateOptions> = {}) {
  return new PoolState(store, {
    pool: "p",
    instance: "me",
    maxBatch: 64,
    syncIntervalMs: 1_000,
    reportGapMs: 50,
    loadAware: true,
    inflightTtlMs: 3_000,
    storeTimeoutMs: 200,
    clock: time.now,
    log: (line) => lines.push(line),
    timers: time.timers,
    ...overrides,
  });
}

const runs: Promise<unknown>[] = [];
const defer = (work: Promise<unknown>) => void runs.push(work);

describe("PoolState over a fake store", () => {
  it("keeps serving through an outage and hands the samples it could not report to the next sync", async () => {
    const time = manualTime({ start: 1_000 });
    const { store, state } = fakeStore(time);
    const lines: string[] = [];
    const pool = poolState(store, time, lines);
    state.down = true;
    expect(await pool.ready(defer)).toEqual({ takenAt: 0, backends: {} });
    expect(pool.stats).toMatchObject({ degraded: true, errors: 1 });

    pool.begin("x", defer)({ latencyMs: 10 });
    pool.begin("x", defer)({ latencyMs: 30 });
    await pool.refresh();
    expect(state.reports).toEqual([]);

    state.down = false;
    const view = await pool.refresh();
    expect(state.reports).toEqual([
      { instance: "me", inflight: {}, latency: { x: { count: 2, meanMs: 20 } }, ttlMs: 3_000 },
    ]);
    expect(view.backends.x?.latency).toEqual({ ewmaMs: 20, updatedAt: 1_000 });
    expect(pool.stats.degraded).toBe(false);
    expect(lines).toEqual([
      "state store memory unreachable (ECONNREFUSED): serving from the last view and local counters",
      "state store memory reachable again: resynchronised",
    ]);
  });

  it("counts its own requests once, whether or not the store has them yet", async () => {
    const time = manualTime();
    const { store, memory } = fakeStore(time);
    const pool = poolState(store, time, []);
    await pool.ready(defer);
    await memory.sync("p", { instance: "other", inflight: { x: 3 }, latency: {}, ttlMs: 60_000 });
    const ends = [pool.begin("x", defer), pool.begin("x", defer)];
    expect(pool.load.inflight("x")).toBe(2);
    await pool.refresh();
    expect(pool.snapshot.backends.x?.inflight).toBe(5);
    expect(pool.load.inflight("x")).toBe(5);
    ends[0]!({});
    expect(pool.load.inflight("x")).toBe(4);
  });

  it.each([
    { runtime: "a server runtime", boundedBackground: false },
    { runtime: "Workers (bounded background turns)", boundedBackground: true },
  ])("on $runtime, re-reports a long request until it ends, then publishes its end", async ({ boundedBackground }) => {
    let end: ((outcome: { latencyMs?: number }) => void) | undefined;
    const time = manualTime({ auto: true });
    const timers = {
      ...time.timers,
      // The request (a stream, a WebSocket) ends after 45 s: past two of Workers' 20 s turns.
      sleep: async (ms: number) => {
        await time.timers.sleep(ms);
        if (time.now() >= 45_000 && end) {
          end({ latencyMs: 5 });
          end = undefined;
        }
      },
    };
    const { store, state } = fakeStore(time);
    const pool = poolState(store, time, [], { boundedBackground, timers });
    runs.length = 0;
    await pool.ready(defer);
    end = pool.begin("x", defer);
    for (let settled = 0; settled < runs.length; settled++) await runs[settled];
    const whileOpen = state.reports.filter((_, i) => state.reportedAt[i]! < 45_000);
    expect(whileOpen.slice(1).every((r) => r.inflight.x === 1)).toBe(true);
    // First the change after the report gap, then a heartbeat at least each third of the 3 s
    // ttl, so the count never expires at the store.
    expect(state.reportedAt.slice(0, 2)).toEqual([0, 50]);
    const gaps = state.reportedAt.slice(1).map((at, i) => at - state.reportedAt[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_000);
    expect(state.reports.at(-1)).toMatchObject({ inflight: {}, latency: { x: { count: 1, meanMs: 5 } } });
    expect(state.reportedAt.at(-1)).toBeGreaterThanOrEqual(45_000);
    expect(state.reportedAt.at(-1)).toBeLessThan(45_100);
  });
});
