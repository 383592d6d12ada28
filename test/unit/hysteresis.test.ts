import { describe, expect, it } from "vitest";
import { applyCheck, type CheckRecord } from "../../src/health/hysteresis.ts";

const T = { rise: 2, fall: 3 };

/** Applies the results in turn from `start`, returning the record after each. */
function run(start: CheckRecord | undefined, results: readonly boolean[]): CheckRecord[] {
  const seen: CheckRecord[] = [];
  let record = start;
  for (const passed of results) {
    record = applyCheck(record, passed, T);
    seen.push(record);
  }
  return seen;
}

describe("applyCheck (rise/fall)", () => {
  it("treats an unknown backend as up", () => {
    expect(applyCheck(undefined, true, T)).toEqual({ health: "up", streak: 0 });
    expect(applyCheck(undefined, false, T)).toEqual({ health: "up", streak: 1 });
  });

  it("goes down after `fall` consecutive failures, streak reset", () => {
    expect(run(undefined, [false, false, false])).toEqual([
      { health: "up", streak: 1 },
      { health: "up", streak: 2 },
      { health: "down", streak: 0 },
    ]);
  });

  it("comes up after `rise` consecutive passes", () => {
    expect(run({ health: "down", streak: 0 }, [true, true])).toEqual([
      { health: "down", streak: 1 },
      { health: "up", streak: 0 },
    ]);
  });

  it("resets the streak on a result that agrees with the current state", () => {
    expect(applyCheck({ health: "up", streak: 2 }, true, T)).toEqual({ health: "up", streak: 0 });
    expect(applyCheck({ health: "down", streak: 1 }, false, T)).toEqual({ health: "down", streak: 0 });
  });

  it("never takes down a backend failing every other check", () => {
    const flapping = run(
      undefined,
      Array.from({ length: 20 }, (_, i) => i % 2 === 0),
    );
    expect(flapping.every((record) => record.health === "up")).toBe(true);
  });

  it("with rise = fall = 1 follows each result at once", () => {
    const one = { rise: 1, fall: 1 };
    expect(applyCheck({ health: "up", streak: 0 }, false, one)).toEqual({ health: "down", streak: 0 });
    expect(applyCheck({ health: "down", streak: 0 }, true, one)).toEqual({ health: "up", streak: 0 });
  });
});
