/**
 * A request body is buffered only when it is small enough to be replayed on another backend;
 * anything larger streams through once and is never retried. A body of unknown length is read
 * up to the limit: if it ends there it is buffered, otherwise what was read is put back in
 * front of the rest of the stream.
 *
 * A streamed body is watched: whether the client finished it, broke it off, or sent more than
 * MAX_REQUEST_BODY_BYTES. A failed attempt is the client's doing, not the backend's, when the
 * body did not arrive whole (passive health must not eject a backend for it).
 */
export interface PreparedBody {
  /** Defined when the body can be sent again (null: there is no body). */
  readonly replayable: ArrayBuffer | null | undefined;
  readonly stream: ReadableStream<Uint8Array> | null;
  /** Set for a streamed body: how its delivery went. */
  readonly progress?: BodyProgress;
}

/** How far a streamed client body got; read after an attempt fails. */
export interface BodyProgress {
  complete: boolean;
  /** The client's stream failed (aborted upload, reset connection). */
  broken: boolean;
  /** More bytes than the limit arrived; the stream was failed on purpose. */
  tooLarge: boolean;
  /** Bytes passed on so far (the access log's bytes_in). */
  bytes: number;
  /** Called whenever a chunk passes, so an upstream timer can measure inactivity. */
  onChunk: (() => void) | undefined;
}

export class BodyTooLarge extends Error {}

const NO_BODY: PreparedBody = { replayable: null, stream: null };

/**
 * `maxReplayBytes`: largest body kept for a retry. `maxBodyBytes`: largest body accepted at all
 * (0 = unlimited); a declared Content-Length above it is refused before reading (BodyTooLarge).
 */
export async function prepareBody(request: Request, maxReplayBytes: number, maxBodyBytes = 0): Promise<PreparedBody> {
  // The method first: on Node, touching request.body makes the adapter build a full Request.
  // Any case: Deno keeps "get" as sent, and fetch upper-cases it and then refuses a body.
  const method = request.method;
  if (method === "GET" || method === "HEAD" || request.body === null) return NO_BODY;
  const upper = method.toUpperCase();
  if (upper === "GET" || upper === "HEAD") return NO_BODY;
  const declared = request.headers.get("content-length");
  const length = declared === null ? NaN : Number(declared);
  if (Number.isFinite(length)) {
    if (maxBodyBytes > 0 && length > maxBodyBytes) throw new BodyTooLarge();
    if (length <= maxReplayBytes) return { replayable: await request.arrayBuffer(), stream: null };
    return watched(request.body, [], maxBodyBytes);
  }
  return readUpTo(request.body, Math.min(maxReplayBytes, maxBodyBytes > 0 ? maxBodyBytes : Infinity), maxBodyBytes);
}

async function readUpTo(body: ReadableStream<Uint8Array>, limit: number, maxBodyBytes: number): Promise<PreparedBody> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { replayable: concat(chunks, size), stream: null };
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) break;
  }
  if (maxBodyBytes > 0 && size > maxBodyBytes) {
    await reader.cancel().catch(() => undefined);
    throw new BodyTooLarge();
  }
  reader.releaseLock();
  // Too large to keep: replay what was read, then pass the rest through untouched.
  return watched(body, chunks, maxBodyBytes);
}

/** The body as a pull-through stream (what was read first, then the rest) that reports progress. */
function watched(body: ReadableStream<Uint8Array>, head: Uint8Array[], maxBodyBytes: number): PreparedBody {
  const progress: BodyProgress = { complete: false, broken: false, tooLarge: false, bytes: 0, onChunk: undefined };
  const reader = body.getReader();
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        let chunk = head.shift();
        if (!chunk) {
          let step: ReadableStreamReadResult<Uint8Array>;
          try {
            step = await reader.read();
          } catch (error) {
            progress.broken = true;
            controller.error(error);
            return;
          }
          if (step.done) {
            progress.complete = true;
            controller.close();
            return;
          }
          chunk = step.value;
        }
        progress.bytes += chunk.byteLength;
        if (maxBodyBytes > 0 && progress.bytes > maxBodyBytes) {
          progress.tooLarge = true;
          void reader.cancel().catch(() => undefined);
          controller.error(new BodyTooLarge());
          return;
        }
        progress.onChunk?.();
        controller.enqueue(chunk);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    // Read nothing ahead: a chunk is taken from the client only when the upstream asks for one.
    { highWaterMark: 0 },
  );
  return { replayable: undefined, stream, progress };
}

function concat(chunks: readonly Uint8Array[], size: number): ArrayBuffer {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out.buffer;
}
