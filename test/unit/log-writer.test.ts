// The servers' log output keeps the order in which things happened: access lines still waiting
// for their batch are written before any other line (a state change, "shutdown complete").
import { describe, expect, it } from "vitest";
import type { EndedRequest } from "../../src/proxy/request-trace.ts";
import type { AccessLineTiming } from "../../src/runtime/access-batch.ts";
import {
  type LineWriter,
  useLineWriter,
  writeAccessLog,
  writeLine,
  writeRecord,
} from "../../src/runtime/log-writer.ts";

const ended = (id: string): EndedRequest => ({
  record: () => ({
    time: "2026-12-06T00:00:00.000Z",
    request_id: id,
    method: "GET",
    host: "lb.test",
    path: "/",
    status: 200,
    pool: "default",
    backend: "a",
    attempts: 1,
    upstream_ms: 1,
    total_ms: 2,
    bytes_in: 0,
    bytes_out: 5,
    client_ip: null,
  }),
});

describe.each<AccessLineTiming>(["in-batch", "at-end"])("log lines, access lines made %s", (timing) => {
  it("writes the access lines waiting before a later line of any kind", () => {
    const written: string[] = [];
    const writer: LineWriter = {
      write: (text) => written.push(text),
      flush: () => Promise.resolve(),
      flushSync: () => undefined,
    };
    useLineWriter(writer, timing);
    writeAccessLog(ended("r1"));
    writeAccessLog(ended("r2"));
    writeLine("state change");
    writeAccessLog(ended("r3"));
    writeRecord({ msg: "shutdown complete" });
    const lines = written.join("").split("\n").filter(Boolean);
    expect(
      lines.map((line) => (line.startsWith("{") ? (JSON.parse(line).request_id ?? JSON.parse(line).msg) : line)),
    ).toEqual(["r1", "r2", "state change", "r3", "shutdown complete"]);
  });
});
