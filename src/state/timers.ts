/**
 * The timers the pool state waits on, injectable so unit tests run on a manual clock instead of
 * real time (test/unit/store-calls.test.ts, test/unit/reporter.test.ts).
 */
export interface Timers {
  /** Resolves after about `ms`. */
  sleep(ms: number): Promise<void>;
  /** Calls `callback` after `ms` unless the returned function is called first. */
  after(ms: number, callback: () => void): () => void;
}

export const realTimers: Timers = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  after(ms, callback) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
};
