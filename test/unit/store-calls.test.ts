import { describe, expect, it } from "vitest";
import { StoreCaller } from "../../src/state/store-calls.ts";
import { manualTime, settle } from "../support/manual-time.ts";

function caller(timeoutMs = 200) {
  const time = manualTime();
  const lines: string[] = [];
  const calls = new StoreCaller({ kind: "fake", timeoutMs, log: (line) => lines.push(line), timers: time.timers });
  return { time, lines, calls };
}

const never = (): Promise<never> => new Promise<never>(() => undefined);
const fails = (message: string) => (): Promise<never> => Promise.reject(new Error(message));

describe("StoreCaller", () => {
  it("fails a call the store has not answered by the deadline, not a moment before", async () => {
    const { time, calls, lines } = caller(200);
    let outcome: unknown = "pending";
    const call = calls.call(never).catch((error: Error) => (outcome = error));
    time.advance(199);
    await settle();
    expect(outcome).toBe("pending");
    time.advance(1);
    await call;
    expect((outcome as Error).message).toBe("store timed out after 200 ms");
    expect(calls.stats).toEqual({
      roundTrips: 1,
      sessionClaims: 0,
      errors: 1,
      degraded: true,
      lastError: "store timed out after 200 ms",
    });
    expect(lines).toHaveLength(1);
  });

  it("passes an answer on and clears its deadline", async () => {
    const { time, calls, lines } = caller();
    expect(await calls.call(async () => 42)).toBe(42);
    expect(time.pending()).toBe(0);
    expect(calls.stats).toEqual({ roundTrips: 1, sessionClaims: 0, errors: 0, degraded: false });
    expect(calls.degraded).toBe(false);
    expect(lines).toEqual([]);
  });

  it("logs the outage once however many calls fail, and the recovery once", async () => {
    const { calls, lines } = caller();
    for (const message of ["ECONNREFUSED", "ECONNRESET", "ECONNREFUSED"]) {
      await expect(calls.call(fails(message))).rejects.toThrow(message);
    }
    expect(calls.degraded).toBe(true);
    expect(calls.stats).toMatchObject({ roundTrips: 3, errors: 3, degraded: true, lastError: "ECONNREFUSED" });
    expect(lines).toEqual([
      "state store fake unreachable (ECONNREFUSED): serving from the last view and local counters",
    ]);

    await calls.call(async () => "ok");
    await calls.call(async () => "ok");
    expect(calls.degraded).toBe(false);
    expect(lines.slice(1)).toEqual(["state store fake reachable again: resynchronised"]);
    expect(calls.stats).toMatchObject({ roundTrips: 5, errors: 3, degraded: false });

    // A second outage is a new change: logged again, once.
    await expect(calls.call(fails("timeout"))).rejects.toThrow("timeout");
    await expect(calls.call(fails("timeout"))).rejects.toThrow("timeout");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain("unreachable (timeout)");
  });
});
