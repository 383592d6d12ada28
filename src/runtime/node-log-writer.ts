// Node's log writer: sonic-boom (pino's destination), asynchronous fs.write on stdout with
// batching while a write is under way, EAGAIN on a non-blocking pipe retried, and a synchronous
// flush for exit. Only the Node entry imports it (Bun and Deno: log-writer.ts's BatchedWriter).
// Lines reach sonic-boom as one string per HAND_OVER_MS (log-writer.ts): its write() per line
// costs a few µs each (bookkeeping, length checks) that one concatenation here does not.
import SonicBoom from "sonic-boom";
import { HAND_OVER_CHARS, HAND_OVER_MS, type LineWriter, MAX_PENDING } from "./log-writer.ts";

export function nodeLineWriter(): LineWriter {
  // maxLength: past it sonic-boom drops lines instead of holding them (stdout not keeping up).
  const stream = new SonicBoom({ fd: 1, sync: false, minLength: 0, maxLength: MAX_PENDING });
  // A closed stdout (EPIPE) must not take the balancer down with it.
  stream.on("error", () => undefined);
  let turn = "";
  let scheduled = false;
  const handOver = () => {
    scheduled = false;
    if (turn === "") return;
    const text = turn;
    turn = "";
    stream.write(text);
  };
  return {
    write: (text) => {
      if (turn.length + text.length > MAX_PENDING) return;
      turn += text;
      if (turn.length >= HAND_OVER_CHARS) handOver();
      else if (!scheduled) {
        scheduled = true;
        setTimeout(handOver, HAND_OVER_MS).unref();
      }
    },
    flush: () => {
      handOver();
      return new Promise<void>((resolve) => stream.flush(() => resolve()));
    },
    flushSync: () => {
      handOver();
      stream.flushSync();
    },
  };
}
