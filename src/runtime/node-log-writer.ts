// Node's log writer: sonic-boom (pino's destination), asynchronous fs.write on stdout with
// batching while a write is under way, EAGAIN on a non-blocking pipe retried, and a synchronous
// flush for exit. Only the Node entry imports it (Bun and Deno: log-writer.ts's BatchedWriter).
import SonicBoom from "sonic-boom";
import { type LineWriter, MAX_PENDING } from "./log-writer.ts";

export function nodeLineWriter(): LineWriter {
  // maxLength: past it sonic-boom drops lines instead of holding them (stdout not keeping up).
  const stream = new SonicBoom({ fd: 1, sync: false, minLength: 0, maxLength: MAX_PENDING });
  // A closed stdout (EPIPE) must not take the balancer down with it.
  stream.on("error", () => undefined);
  return {
    write: (text) => void stream.write(text),
    flush: () => new Promise<void>((resolve) => stream.flush(() => resolve())),
    flushSync: () => stream.flushSync(),
  };
}
