// RESP2, the wire format of redis-server: encoding commands and parsing replies (binary safe:
// bulk strings stay Buffers). No I/O here; resp-client.ts owns the sockets.

export class StatusReply {
  constructor(readonly value: string) {}
}
export class IntegerReply {
  /** Exact decimal digits as Redis sent them (64-bit values do not fit a JS number). */
  constructor(readonly digits: string) {}
}
export class ErrorReply {
  constructor(readonly message: string) {}
}
export type Reply = null | Buffer | StatusReply | IntegerReply | ErrorReply | Reply[];

const CRLF = Buffer.from("\r\n");

export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}


export class ProtocolError extends Error {}

/**
 * Parses one reply starting at `pos`. Returns the reply and the index after it, or, when the
 * buffer does not hold the whole reply yet, the smallest buffer length worth trying again at.
 */
function parseReply(buf: Buffer, pos: number): { value: Reply; end: number } | number {
  if (pos >= buf.length) return pos + 1;
  const lineEnd = buf.indexOf(CRLF, pos + 1);
  if (lineEnd === -1) return buf.length + 1;
  const type = buf[pos];
  const line = buf.toString("latin1", pos + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case 0x2b: // +
      return { value: new StatusReply(buf.toString("utf8", pos + 1, lineEnd)), end: next };
    case 0x2d: // -
      return { value: new ErrorReply(buf.toString("utf8", pos + 1, lineEnd)), end: next };
    case 0x3a: // :
      if (!/^-?\d+$/.test(line)) throw new ProtocolError(`bad integer reply ${JSON.stringify(line)}`);
      return { value: new IntegerReply(line), end: next };
    case 0x24: {
      // $
      const len = Number(line);
      if (!Number.isInteger(len) || len < -1) throw new ProtocolError(`bad bulk length ${line}`);
      if (len === -1) return { value: null, end: next };
      const end = next + len + 2;
      if (buf.length < end) return end;
      return { value: buf.subarray(next, next + len), end };
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (!Number.isInteger(count) || count < -1) throw new ProtocolError(`bad array length ${line}`);
      if (count === -1) return { value: null, end: next };
      const items: Reply[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (typeof item === "number") return item;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new ProtocolError(`unexpected reply type byte 0x${(type ?? 0).toString(16)}`);
  }
}

export class ReplyReader {
  private buf: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Do not re-parse until the buffered data reaches this length (avoids quadratic re-parsing). */
  private need = 0;

  constructor(private readonly onReply: (reply: Reply) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.buf.length + this.chunkBytes < this.need) return;
    this.buf =
      this.buf.length === 0 && this.chunks.length === 1
        ? chunk
        : Buffer.concat([this.buf, ...this.chunks], this.buf.length + this.chunkBytes);
    this.chunks = [];
    this.chunkBytes = 0;
    let pos = 0;
    this.need = 0;
    while (pos < this.buf.length) {
      const parsed = parseReply(this.buf, pos);
      if (typeof parsed === "number") {
        this.need = parsed - pos;
        break;
      }
      pos = parsed.end;
      this.onReply(parsed.value);
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }
}
