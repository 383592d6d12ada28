import { describe, expect, it } from "vitest";
import { closeFrame, FrameBoundaryTracker } from "../../src/runtime/websocket-frames.ts";

/** One frame: FIN set, `opcode`, masked with `mask` when given; the payload is not masked here (the tracker never reads it). */
function frame(opcode: number, payloadLength: number, mask?: number[]): Uint8Array {
  const extended = payloadLength < 126 ? [] : payloadLength < 65_536 ? [126] : [127];
  const second = (mask ? 0x80 : 0) | (extended.length === 0 ? payloadLength : extended[0]!);
  const header = [0x80 | opcode, second];
  if (payloadLength >= 126 && payloadLength < 65_536) header.push(payloadLength >> 8, payloadLength & 0xff);
  if (payloadLength >= 65_536) {
    let rest = payloadLength;
    const bytes: number[] = [];
    for (let i = 0; i < 8; i++) {
      bytes.unshift(rest % 256);
      rest = Math.floor(rest / 256);
    }
    header.push(...bytes);
  }
  if (mask) header.push(...mask);
  const out = new Uint8Array(header.length + payloadLength);
  out.set(header);
  // A payload that looks like frame headers, so a tracker reading payload bytes as headers would go wrong.
  out.fill(0x88, header.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Feeds `bytes` in pieces of the given sizes; returns atBoundary after each piece. */
function feed(tracker: FrameBoundaryTracker, bytes: Uint8Array, sizes: number[]): boolean[] {
  const seen: boolean[] = [];
  let at = 0;
  for (const size of sizes) {
    expect(tracker.advance(bytes.subarray(at, at + size))).toBe(size);
    at += size;
    seen.push(tracker.atBoundary);
  }
  expect(at).toBe(bytes.length);
  return seen;
}

describe("FrameBoundaryTracker", () => {
  it("starts at a boundary", () => {
    expect(new FrameBoundaryTracker().atBoundary).toBe(true);
  });

  it("follows a small unmasked frame byte by byte", () => {
    const bytes = frame(0x1, 5);
    const seen = feed(new FrameBoundaryTracker(), bytes, Array(bytes.length).fill(1));
    expect(seen).toEqual([false, false, false, false, false, false, true]);
  });

  it("follows a masked frame whose header is split across chunks", () => {
    const bytes = frame(0x2, 3, [1, 2, 3, 4]);
    // 2 + 4 header bytes, then 3 payload bytes: split inside the masking key and the payload.
    expect(feed(new FrameBoundaryTracker(), bytes, [1, 3, 3, 2])).toEqual([false, false, false, true]);
  });

  it("reads 16-bit lengths", () => {
    const bytes = frame(0x2, 300);
    expect(bytes.length).toBe(4 + 300);
    expect(feed(new FrameBoundaryTracker(), bytes, [3, 1, 299, 1])).toEqual([false, false, false, true]);
  });

  it("reads 64-bit lengths, masked", () => {
    const bytes = frame(0x2, 70_000, [9, 9, 9, 9]);
    expect(bytes.length).toBe(2 + 8 + 4 + 70_000);
    expect(feed(new FrameBoundaryTracker(), bytes, [5, 9, 69_999, 1])).toEqual([false, false, false, true]);
  });

  it("reads 64-bit lengths above 32 bits without reading the payload", () => {
    const tracker = new FrameBoundaryTracker();
    const header = Uint8Array.of(0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0);
    tracker.advance(header);
    expect(tracker.atBoundary).toBe(false);
    // 2^32 payload bytes: stop at the boundary only after exactly that many.
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 4096 - 1; i++) tracker.advance(chunk);
    expect(tracker.atBoundary).toBe(false);
    expect(tracker.advance(concat(chunk, Uint8Array.of(0x81)), true)).toBe(chunk.length);
    expect(tracker.atBoundary).toBe(true);
  });

  it("takes several frames in one chunk, empty ones too", () => {
    const bytes = concat(frame(0x1, 2), frame(0x9, 0), frame(0x2, 130, [1, 1, 1, 1]), frame(0xa, 0, [2, 2, 2, 2]));
    const tracker = new FrameBoundaryTracker();
    expect(tracker.advance(bytes)).toBe(bytes.length);
    expect(tracker.atBoundary).toBe(true);
  });

  it("stops at the first boundary when asked", () => {
    const first = frame(0x1, 10);
    const bytes = concat(first, frame(0x1, 4));
    const tracker = new FrameBoundaryTracker();
    // Already at a boundary: nothing is consumed.
    expect(tracker.advance(bytes, true)).toBe(0);
    expect(tracker.advance(bytes.subarray(0, 5))).toBe(5);
    expect(tracker.advance(bytes, true, 5)).toBe(first.length);
    expect(tracker.atBoundary).toBe(true);
    // Once inside a frame, a chunk that ends mid-frame is consumed whole.
    tracker.advance(bytes.subarray(first.length, first.length + 1));
    expect(tracker.advance(bytes.subarray(first.length + 1, first.length + 3), true)).toBe(2);
    expect(tracker.atBoundary).toBe(false);
  });

  it("notices a close frame once its header is in, not from payload bytes", () => {
    const tracker = new FrameBoundaryTracker();
    // Payload bytes of 0x88 (what a close header starts with) are not mistaken for a close.
    tracker.advance(frame(0x2, 20));
    expect(tracker.closeSeen).toBe(false);
    const close = frame(0x8, 2, [5, 6, 7, 8]);
    tracker.advance(close.subarray(0, 1));
    expect(tracker.closeSeen).toBe(false);
    tracker.advance(close.subarray(1));
    expect(tracker.closeSeen).toBe(true);
    expect(tracker.atBoundary).toBe(true);
  });
});

describe("closeFrame", () => {
  it("builds an unmasked close (server to client)", () => {
    expect([...closeFrame(1001, "bye")]).toEqual([0x88, 5, 0x03, 0xe9, 0x62, 0x79, 0x65]);
  });

  it("builds a masked close (client to server)", () => {
    const key = Uint8Array.of(0x11, 0x22, 0x33, 0x44);
    const bytes = closeFrame(4001, "ok", key);
    expect([...bytes.subarray(0, 6)]).toEqual([0x88, 0x80 | 4, 0x11, 0x22, 0x33, 0x44]);
    const payload = [...bytes.subarray(6)].map((b, i) => b ^ key[i % 4]!);
    expect(payload).toEqual([0x0f, 0xa1, 0x6f, 0x6b]);
  });

  it("cuts a long reason to 123 bytes at a character boundary", () => {
    const bytes = closeFrame(1000, "é".repeat(100));
    // 61 two-byte characters fit in 123 bytes (the 62nd would be split).
    expect(bytes[1]).toBe(2 + 122);
    expect(new TextDecoder().decode(bytes.subarray(4))).toBe("é".repeat(61));
  });

  it("is read as one whole frame by the tracker", () => {
    const tracker = new FrameBoundaryTracker();
    tracker.advance(closeFrame(1001, "x".repeat(123), Uint8Array.of(1, 2, 3, 4)));
    expect(tracker.atBoundary).toBe(true);
    expect(tracker.closeSeen).toBe(true);
  });
});
