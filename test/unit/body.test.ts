import { describe, expect, it } from "vitest";
import { BodyTooLarge, type PreparedBody, prepareBody } from "../../src/proxy/body.ts";

/** A request whose body arrives in the given chunks, then ends (or breaks, with `fail`). */
function streamed(
  chunks: readonly string[],
  options: { fail?: boolean; length?: number; method?: string } = {},
): Request {
  const encoder = new TextEncoder();
  let next = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(encoder.encode(chunks[next++]!));
      else if (options.fail) controller.error(new Error("client went away"));
      else controller.close();
    },
  });
  const headers: Record<string, string> =
    options.length === undefined ? {} : { "content-length": String(options.length) };
  return new Request("http://lb.test/up", {
    method: options.method ?? "POST",
    body,
    headers,
    duplex: "half",
  } as RequestInit);
}

async function drain(prepared: PreparedBody): Promise<string> {
  return new Response(prepared.stream).text();
}

describe("prepareBody", () => {
  it("sends no body for GET and HEAD, whatever their case (Deno keeps 'get')", async () => {
    expect(await prepareBody(new Request("http://lb.test/", { method: "GET" }), 10)).toEqual({
      replayable: null,
      stream: null,
    });
    const lower = { method: "get", body: new ReadableStream(), headers: new Headers() } as unknown as Request;
    expect(await prepareBody(lower, 10)).toEqual({ replayable: null, stream: null });
  });

  it("buffers a declared body up to the replay limit, so it can be sent again", async () => {
    const prepared = await prepareBody(new Request("http://lb.test/", { method: "PUT", body: "hello" }), 10);
    expect(new TextDecoder().decode(prepared.replayable as ArrayBuffer)).toBe("hello");
    expect(prepared.stream).toBeNull();
  });

  it("buffers a body of unknown length when it ends within the limit", async () => {
    const prepared = await prepareBody(streamed(["ab", "cd"]), 10);
    expect(new TextDecoder().decode(prepared.replayable as ArrayBuffer)).toBe("abcd");
  });

  it("streams a longer body once, the part already read first, and reports it complete", async () => {
    const prepared = await prepareBody(streamed(["abcd", "efgh", "ijkl"]), 5);
    expect(prepared.replayable).toBeUndefined();
    expect(await drain(prepared)).toBe("abcdefghijkl");
    expect(prepared.progress).toMatchObject({ complete: true, broken: false, tooLarge: false });
  });

  it("reports a streamed body the client broke off, and counts chunks for the upstream timer", async () => {
    const prepared = await prepareBody(streamed(["abcd", "efgh"], { fail: true }), 3);
    let chunks = 0;
    prepared.progress!.onChunk = () => chunks++;
    await expect(drain(prepared)).rejects.toThrow();
    expect(prepared.progress).toMatchObject({ complete: false, broken: true });
    expect(chunks).toBe(2);
  });

  it("refuses a declared length over MAX_REQUEST_BODY_BYTES before reading anything", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(10));
      },
    });
    const request = new Request("http://lb.test/", {
      method: "POST",
      body,
      headers: { "content-length": "500" },
      duplex: "half",
    } as RequestInit);
    await expect(prepareBody(request, 64, 100)).rejects.toBeInstanceOf(BodyTooLarge);
    expect(pulled).toBeLessThanOrEqual(1); // a stream may pre-pull one chunk on its own; we read none
  });

  it("refuses an unknown-length body that passes the limit while it is still being buffered", async () => {
    await expect(prepareBody(streamed(["aaaa", "bbbb", "cccc"]), 64, 10)).rejects.toBeInstanceOf(BodyTooLarge);
  });

  it("fails a streamed body that grows past the limit, and says so", async () => {
    const prepared = await prepareBody(streamed(["aaaa", "bbbb", "cccc", "dddd"]), 3, 10);
    await expect(drain(prepared)).rejects.toBeInstanceOf(BodyTooLarge);
    expect(prepared.progress).toMatchObject({ tooLarge: true, complete: false });
  });
});
