import { inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { consoleRecord } from "../../src/shared/console-record.ts";

describe("consoleRecord", () => {
  afterEach(() => vi.restoreAllMocks());

  it("logs the object itself, which inspects as its one JSON line and serialises unchanged", () => {
    const logged: unknown[] = [];
    vi.spyOn(console, "log").mockImplementation((value: unknown) => void logged.push(value));
    const record = { time: "2026-12-06T13:50:00.123Z", path: "/a'b\n", status: 200, pool: null };
    consoleRecord(record);
    expect(logged).toEqual([record]);
    expect(Object.getPrototypeOf(logged[0])).toBe(Object.prototype);
    const line = JSON.stringify(record);
    expect(line).toBe('{"time":"2026-12-06T13:50:00.123Z","path":"/a\'b\\n","status":200,"pool":null}');
    // Inspecting (what workerd prints locally) gives that same line, newline escaped: one line.
    expect(inspect(record)).toBe(line);
    expect(Object.keys(record)).toEqual(["time", "path", "status", "pool"]);
  });
});
