/**
 * Just enough of RFC 6455's framing for a byte tunnel to close a WebSocket cleanly: where one
 * frame ends in a stream of bytes, and a close frame of our own. Payloads are never unmasked,
 * decoded or buffered; only the 2-14 byte headers are read, so a close can be put between two
 * frames (control frames may come between a message's fragments, RFC 6455 5.4) and never inside one.
 */

const OPCODE_CLOSE = 0x8;
/** A close frame's payload: 2 bytes of code and at most 123 of reason (RFC 6455 5.5). */
const MAX_REASON_BYTES = 123;

/** Follows one direction of a WebSocket byte stream, frame by frame. */
export class FrameBoundaryTracker {
  readonly #header = new Uint8Array(14);
  /** Header bytes of the current frame gathered so far (0: none, at a boundary or in a payload). */
  #headerBytes = 0;
  /** Payload bytes of the current frame still to come. */
  #payloadLeft = 0;
  #closeSeen = false;

  /** True between frames: a frame of our own may be sent now. */
  get atBoundary(): boolean {
    return this.#headerBytes === 0 && this.#payloadLeft === 0;
  }

  /** A close frame has started in this stream (its sender will send no further frames). */
  get closeSeen(): boolean {
    return this.#closeSeen;
  }

  /**
   * Reads `chunk` from `start`. With `stopAtBoundary`, stops at the first frame boundary it
   * reaches (at once when already at one) and returns that offset; otherwise reads it all and
   * returns chunk.length.
   */
  advance(chunk: Uint8Array, stopAtBoundary = false, start = 0): number {
    let at = start;
    while (at < chunk.length) {
      if (stopAtBoundary && this.atBoundary) return at;
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - at);
        this.#payloadLeft -= take;
        at += take;
        continue;
      }
      this.#header[this.#headerBytes++] = chunk[at++]!;
      const needed = headerLength(this.#header, this.#headerBytes);
      if (needed !== undefined && this.#headerBytes === needed) this.#startPayload();
    }
    return at;
  }

  #startPayload(): void {
    const header = this.#header;
    if ((header[0]! & 0x0f) === OPCODE_CLOSE) this.#closeSeen = true;
    const short = header[1]! & 0x7f;
    if (short < 126) this.#payloadLeft = short;
    else if (short === 126) this.#payloadLeft = (header[2]! << 8) | header[3]!;
    else {
      // 64-bit length, most significant bit 0 (RFC 6455 5.2); exact up to 2^53, far past any real frame.
      let length = 0;
      for (let i = 2; i < 10; i++) length = length * 256 + header[i]!;
      this.#payloadLeft = length;
    }
    this.#headerBytes = 0;
  }
}

/**
 * The whole header's length once its second byte is known: 2, plus 2 or 8 bytes of extended
 * length, plus 4 of masking key when the mask bit is set.
 */
function headerLength(header: Uint8Array, have: number): number | undefined {
  if (have < 2) return undefined;
  const short = header[1]! & 0x7f;
  const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
  const mask = header[1]! & 0x80 ? 4 : 0;
  return 2 + extended + mask;
}

/**
 * A close frame with `code` and `reason` (cut to 123 bytes at a character boundary). With
 * `maskKey` (4 bytes) the frame is masked, as every client-to-server frame must be (RFC 6455 5.3).
 */
export function closeFrame(code: number, reason: string, maskKey?: Uint8Array): Uint8Array {
  const text = reasonBytes(reason);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  const headerBytes = maskKey ? 6 : 2;
  const frame = new Uint8Array(headerBytes + payload.length);
  frame[0] = 0x80 | OPCODE_CLOSE;
  frame[1] = (maskKey ? 0x80 : 0) | payload.length;
  if (maskKey) {
    frame.set(maskKey.subarray(0, 4), 2);
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i % 4]!;
  }
  frame.set(payload, headerBytes);
  return frame;
}

function reasonBytes(reason: string): Uint8Array {
  const bytes = new TextEncoder().encode(reason);
  if (bytes.length <= MAX_REASON_BYTES) return bytes;
  let end = MAX_REASON_BYTES;
  // Back off to a character boundary (a continuation byte is 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
