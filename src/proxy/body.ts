/**
 * A request body is buffered only when it is small enough to be replayed on another backend;
 * anything larger streams through once and is never retried. A body of unknown length is read
 * up to the limit: if it ends there it is buffered, otherwise what was read is put back in
 * front of the rest of the stream.
 */
export interface PreparedBody {
  /** Defined when the body can be sent again (null: there is no body). */
  readonly replayable: ArrayBuffer | null | undefined;
  readonly stream: ReadableStream<Uint8Array> | null;
}

const NO_BODY: PreparedBody = { replayable: null, stream: null };

export async function prepareBody(request: Request, maxReplayBytes: number): Promise<PreparedBody> {
  // The method first: on Node, touching request.body makes the adapter build a full Request.
  if (request.method === "GET" || request.method === "HEAD" || request.body === null) return NO_BODY;
  const declared = request.headers.get("content-length");
  const length = declared === null ? NaN : Number(declared);
  if (Number.isFinite(length)) {
    if (length <= maxReplayBytes) return { replayable: await request.arrayBuffer(), stream: null };
    return { replayable: undefined, stream: request.body };
  }
  return readUpTo(request.body, maxReplayBytes);
}

async function readUpTo(body: ReadableStream<Uint8Array>, limit: number): Promise<PreparedBody> {
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
  // Too large to keep: replay what was read, then pass the rest through untouched.
  const stream = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const chunk = chunks.shift();
      if (chunk) return controller.enqueue(chunk);
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { replayable: undefined, stream };
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
