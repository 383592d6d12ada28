import { describe, expect, it } from "vitest";
import { Reporter, type ReporterOptions } from "../../src/state/reporter.ts";
import { type ManualTime, manualTime, settle } from "../support/manual-time.ts";

/** A reporter on a manual clock whose syncs are recorded; the test sets what it reads. */
function reporter(
  time: ManualTime,
  options: Partial<ReporterOptions> = {},
  keeper?: () => ((work: Promise<unknown>) => void) | undefined,
) {
  const state = { inflight: 0, dirty: false, degraded: false, hang: false };
  const syncs: number[] = [];
  const runs: Promise<unknown>[] = [];
  const r = new Reporter(
    {
      sync: () => {
        syncs.push(time.now());
        state.dirty = false;
        return state.hang ? new Promise<void>(() => undefined) : Promise.resolve();
      },
      inflight: () => state.inflight,
      dirty: () => state.dirty,
      degraded: () => state.degraded,
      ...(keeper ? { keeper } : {}),
    },
    {
      syncIntervalMs: 1_000,
      reportGapMs: 100,
      heartbeatMs: 1_000,
      runMs: 20_000,
      stuckMs: 35_000,
      clock: time.now,
      timers: time.timers,
      ...options,
    },
  );
  const poke = () => r.poke((work) => void runs.push(work));
  return { r, state, syncs, runs, poke, done: () => Promise.all(runs) };
}

describe("Reporter", () => {
  it("re-reports every heartbeat while requests are in flight, and stops after its run time", async () => {
    const time = manualTime({ auto: true });
    const { state, syncs, runs, poke, done } = reporter(time);
    state.inflight = 1;
    poke();
    await done();
    expect(runs).toHaveLength(1);
    expect(syncs[0]).toBe(0);
    const gaps = syncs.slice(1).map((at, i) => at - syncs[i]!);
    expect(gaps.every((gap) => gap === 1_000)).toBe(true);
    // The last heartbeat falls at the end of the 20 s run; none after it.
    expect(syncs.at(-1)).toBe(20_000);
    expect(syncs).toHaveLength(21);
    await settle();
    expect(syncs).toHaveLength(21);
  });

  it("reports a change within the report gap while requests run, and ends with the last of them", async () => {
    const time = manualTime({ auto: true });
    const { state, syncs, poke, done } = reporter(time, {
      timers: {
        ...time.timers,
        // A request ends during the fifth wait.
        sleep: async (ms) => {
          await time.timers.sleep(ms);
          if (time.now() === 500) {
            state.inflight = 0;
            state.dirty = true;
          }
        },
      },
    });
    state.inflight = 1;
    poke();
    await done();
    expect(syncs).toEqual([0, 500]);
  });

  it("syncs once and stops when nothing is in flight", async () => {
    const time = manualTime({ auto: true });
    const { syncs, poke, done } = reporter(time);
    poke();
    await done();
    expect(syncs).toEqual([0]);
  });

  it("leaves it at one sync while the store is down and nothing is in flight", async () => {
    const time = manualTime({ auto: true });
    const { state, syncs, poke, done } = reporter(time);
    state.degraded = true;
    poke();
    // A change with the store known to be down and nothing in flight: not worth a loop.
    state.dirty = true;
    await done();
    expect(syncs).toEqual([0]);
  });

  it("waits out the report gap before publishing a change, and only one run at a time", async () => {
    const time = manualTime();
    const { state, syncs, runs, poke, r } = reporter(time);
    await r.syncNow();
    expect(syncs).toEqual([0]);
    time.advance(30);
    poke(); // nothing changed and the view is fresh: no run
    expect(runs).toHaveLength(0);
    state.dirty = true;
    poke();
    poke();
    expect(runs).toHaveLength(1);
    time.advance(69);
    await settle();
    expect(syncs).toEqual([0]);
    time.advance(1);
    await settle();
    expect(syncs).toEqual([0, 100]);
    await Promise.all(runs);
    // Due again once the sync interval has passed, change or not.
    time.advance(999);
    poke();
    expect(runs).toHaveLength(1);
    time.advance(1);
    poke();
    expect(runs).toHaveLength(2);
  });

  it("starts another run when one was cut off by the runtime", async () => {
    const time = manualTime();
    const { state, syncs, runs, poke } = reporter(time);
    state.hang = true;
    poke();
    expect(syncs).toEqual([0]);
    time.advance(34_999);
    poke();
    expect(runs).toHaveLength(1);
    time.advance(1);
    poke();
    expect(runs).toHaveLength(2);
    expect(syncs).toEqual([0, 35_000]);
  });

  it("without a run limit (server runtimes), keeps re-reporting for as long as a request is open", async () => {
    const time = manualTime({ auto: true });
    const { state, syncs, poke, done } = reporter(time, {
      runMs: Number.POSITIVE_INFINITY,
      timers: {
        ...time.timers,
        // A WebSocket open for 10 minutes, then closed.
        sleep: async (ms) => {
          await time.timers.sleep(ms);
          if (time.now() >= 600_000 && state.inflight > 0) {
            state.inflight = 0;
            state.dirty = true;
          }
        },
      },
    });
    state.inflight = 1;
    poke();
    await done();
    const gaps = syncs.slice(1).map((at, i) => at - syncs[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1_000);
    expect(syncs.at(-1)).toBe(600_000);
    expect(syncs.length).toBeGreaterThanOrEqual(601);
  });

  it("a run cut short by its limit continues in the background of a request still in flight", async () => {
    const time = manualTime({ auto: true });
    const kept: Promise<unknown>[] = [];
    let keeperCalls = 0;
    const { state, syncs, poke, done } = reporter(time, { runMs: 20_000 }, () => {
      keeperCalls++;
      // Two turns of 20 s, then the long request ends.
      if (keeperCalls === 2) state.inflight = 0;
      return (work) => void kept.push(work);
    });
    state.inflight = 1;
    poke();
    await done();
    expect(kept).toHaveLength(1);
    await Promise.all(kept);
    // The first turn ends at 20 s and hands over; the second reports from there on.
    expect(syncs).toContain(20_000);
    expect(syncs).toContain(21_000);
    expect(syncs.at(-1)).toBe(40_000);
    expect(keeperCalls).toBe(2);
  });

  it("without a report per change (budgeted, not load-aware): requests begun just after a sync are re-reported when due, a short one is not", async () => {
    const time = manualTime();
    const { state, syncs, runs, poke, r } = reporter(time, { reportsChanges: () => false });
    await r.syncNow();
    // Requests start 10 ms after a sync and stay open (hanging upstream): nothing more arrives.
    time.advance(10);
    state.inflight = 20;
    state.dirty = true;
    poke();
    expect(runs).toHaveLength(1);
    time.advance(989);
    await settle();
    expect(syncs).toEqual([0]);
    time.advance(1);
    await settle();
    expect(syncs).toEqual([0, 1_000]);
    time.advance(1_000);
    await settle();
    expect(syncs).toEqual([0, 1_000, 2_000]);
    state.inflight = 0;
    time.advance(1_000);
    await Promise.all(runs);
    expect(syncs).toEqual([0, 1_000, 2_000]);

    // A short request just after a sync: its end rides on the next due sync, nothing extra.
    await r.syncNow();
    time.advance(10);
    state.inflight = 1;
    poke();
    time.advance(50);
    state.inflight = 0;
    time.advance(5_000);
    await Promise.all(runs);
    expect(syncs).toEqual([0, 1_000, 2_000, 3_000]);
  });
});
