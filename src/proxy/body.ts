/**
 * A request body is buffered only when it is small enough to be replayed on another backend
 * (Content-Length up to the limit); anything else streams through once and is never retried.
 */
export interface PreparedBody {
  /** Defined when the body can be sent again (null: there is no body). */
  readonly replayable: ArrayBuffer | null | undefined;
  readonly stream: ReadableStream<Uint8Array> | null;
}

export async function prepareBody(request: Request, maxReplayBytes: number): Promise<PreparedBody> {
  if (request.body === null || request.method === "GET" || request.method === "HEAD") {
    return { replayable: null, stream: null };
  }
  const length = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isFinite(length) && length <= maxReplayBytes) {
    return { replayable: await request.arrayBuffer(), stream: null };
  }
  return { replayable: undefined, stream: request.body };
}
