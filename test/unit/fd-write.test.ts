// Bun's stdout write gets every byte of a batch out to a real file: whole,
// after a write that took only part (a full pipe), and after writes that would have blocked.
import { Buffer } from "node:buffer";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, write } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FsWrite, writeAllSync, writeTextAsync } from "../../src/runtime/fd-write.ts";

describe("writing log text to a descriptor", () => {
  // Characters of two and three bytes, so that a cut can fall inside one.
  const text = `${"é→ line ".repeat(2_000)}\n`;
  let dir: string;
  let fd: number;
  const written = () => readFileSync(join(dir, "out"), "utf8");

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-lb-log-"));
    fd = openSync(join(dir, "out"), "w");
  });
  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true });
  });

  /** fs.write, taking at most `most` bytes a call. */
  const shortWrites =
    (most: number, calls: { n: number }): FsWrite =>
    (target, data, done) => {
      calls.n++;
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      write(target, bytes, 0, Math.min(bytes.length, most), null, (error, n) => done(error, n));
    };

  it("writes the whole text", async () => {
    await writeTextAsync(fd)(text);
    expect(written()).toBe(text);
  });

  it("goes on from where a write that took only part stopped, splitting no character", async () => {
    const calls = { n: 0 };
    // An odd size, so that cuts fall inside characters.
    await writeTextAsync(fd, shortWrites(1_001, calls))(text);
    expect(written()).toBe(text);
    expect(calls.n).toBe(Math.ceil(Buffer.byteLength(text) / 1_001));
  });

  it("tries again a write that would block (EAGAIN), losing nothing", async () => {
    let refusals = 2;
    const busyAtFirst: FsWrite = (target, data, done) => {
      if (refusals-- > 0) {
        done(Object.assign(new Error("EAGAIN: resource temporarily unavailable"), { code: "EAGAIN" }), 0);
        return;
      }
      write(target, typeof data === "string" ? Buffer.from(data) : data, (error, n) => done(error, n));
    };
    await writeTextAsync(fd, busyAtFirst)(text);
    expect(written()).toBe(text);
    expect(refusals).toBe(-1);
  });

  it("rejects on any other error (stdout gone), for the caller to drop the text", async () => {
    const gone: FsWrite = (_target, _data, done) =>
      done(Object.assign(new Error("EPIPE: broken pipe"), { code: "EPIPE" }), 0);
    await expect(writeTextAsync(fd, gone)(text)).rejects.toThrow("EPIPE");
  });

  it("writes the whole text synchronously for exit", () => {
    writeAllSync(text, fd);
    expect(written()).toBe(text);
  });
});
