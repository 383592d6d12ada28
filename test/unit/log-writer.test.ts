// The servers' log output keeps the order in which things happened: access lines still waiting
// for their batch are written before any other line (a state change, "shutdown complete").
import { describe, expect, it } from "vitest";
import type { AccessLineTiming } from "../../src/runtime/access-batch.ts";
import {
  type LineWriter,
  useLineWriter,
  writeAccessLog,
  writeLine,
  writeRecord,
} from "../../src/runtime/log-writer.ts";
import { endedRequest } from "../support/ended-request.ts";

describe.each<AccessLineTiming>(["in-batch", "at-end"])("log lines, access lines made %s", (timing) => {
  it("writes the access lines waiting before a later line of any kind", () => {
    const written: string[] = [];
    const writer: LineWriter = {
      write: (text) => written.push(text),
      flush: () => Promise.resolve(),
      flushSync: () => undefined,
    };
    useLineWriter(writer, timing);
    writeAccessLog(endedRequest("r1"));
    writeAccessLog(endedRequest("r2"));
    writeLine("state change");
    writeAccessLog(endedRequest("r3"));
    writeRecord({ msg: "shutdown complete" });
    const lines = written.join("").split("\n").filter(Boolean);
    expect(
      lines.map((line) => (line.startsWith("{") ? (JSON.parse(line).request_id ?? JSON.parse(line).msg) : line)),
    ).toEqual(["r1", "r2", "state change", "r3", "shutdown complete"]);
  });
});
