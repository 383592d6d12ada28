// The servers' log output keeps the order in which things happened: access lines still waiting
// for their batch are written before any other line (a state change, "shutdown complete"); and
// Bun's stdout write gets every byte out, even when a write takes only part.
import { Buffer } from "node:buffer";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, write } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AccessLineTiming } from "../../src/runtime/access-batch.ts";
import {
  type LineWriter,
  useLineWriter,
  writeAccessLog,
  writeLine,
  writeRecord,
  writeTextAsync,
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

describe("writeTextAsync (Bun's stdout)", () => {
  const text = `${"é→ line ".repeat(2_000)}\n`;

  it("writes the whole text to the descriptor", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edge-lb-log-"));
    const fd = openSync(join(dir, "out"), "w");
    try {
      await writeTextAsync(fd)(text);
      expect(readFileSync(join(dir, "out"), "utf8")).toBe(text);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });

  it("goes on in bytes after a write that took only part (a full pipe), splitting no character", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edge-lb-log-"));
    const fd = openSync(join(dir, "out"), "w");
    let calls = 0;
    // fs.write, taking at most 1,001 bytes a call (odd, so that a cut falls inside a character).
    const shortWrites = (target: number, data: string | Uint8Array, done: (e: Error | null, n: number) => void) => {
      calls++;
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      write(target, bytes, 0, Math.min(bytes.length, 1_001), null, (error, written) => done(error, written));
    };
    try {
      await writeTextAsync(fd, shortWrites)(text);
      expect(readFileSync(join(dir, "out"), "utf8")).toBe(text);
      expect(calls).toBe(Math.ceil(Buffer.byteLength(text) / 1_001));
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });
});
