// A clock and timers the test moves by hand, for the pool state's pieces (src/state/timers.ts).
import type { Timers } from "../../src/state/timers.ts";

export interface ManualTime {
  readonly timers: Timers;
  now(): number;
  /** Moves the clock and fires every timer and sleep due by then, in due order. */
  advance(ms: number): void;
  /** Timers and sleeps not yet due (cancelled ones excluded). */
  pending(): number;
}

/**
 * `auto`: every sleep moves the clock by its own length and resolves at once, so a loop of
 * sleeps runs to its end within a few microtasks, at the times it would have run.
 */
export function manualTime(options: { start?: number; auto?: boolean } = {}): ManualTime {
  let now = options.start ?? 0;
  let nextId = 0;
  const due = new Map<number, { at: number; fire: () => void }>();
  const schedule = (ms: number, fire: () => void): number => {
    const id = nextId++;
    due.set(id, { at: now + Math.max(0, ms), fire });
    return id;
  };
  const advance = (ms: number): void => {
    const until = now + ms;
    for (;;) {
      const next = [...due.entries()]
        .filter(([, t]) => t.at <= until)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      due.delete(next[0]);
      now = Math.max(now, next[1].at);
      next[1].fire();
    }
    now = until;
  };
  return {
    now: () => now,
    advance,
    pending: () => due.size,
    timers: {
      sleep(ms) {
        if (options.auto) {
          now += Math.max(0, ms);
          return Promise.resolve();
        }
        return new Promise((resolve) => void schedule(ms, resolve));
      },
      after(ms, callback) {
        const id = schedule(ms, callback);
        return () => void due.delete(id);
      },
    },
  };
}

/** Lets every promise callback queued so far run (no timers, no real time). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
