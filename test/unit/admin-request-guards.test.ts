import { describe, expect, it } from "vitest";
import { readBoundedText, SIGN_IN_BODY_LIMIT } from "../../src/admin/bounded-body.ts";
import { isSameOrigin } from "../../src/admin/origin.ts";

/** A request whose body counts how many chunks were pulled from it, and whether it was cancelled. */
function countingRequest(chunks: number, chunkBytes: number, headers: Record<string, string> = {}) {
  const seen = { pulled: 0, cancelled: false };
  const chunk = new Uint8Array(chunkBytes).fill(0x61);
  // highWaterMark 0: the stream pulls only when someone reads, so `pulled` counts reads.
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (seen.pulled >= chunks) return controller.close();
        seen.pulled++;
        controller.enqueue(chunk);
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  const request = new Request("http://lb.test/_lb/login", {
    method: "POST",
    body,
    headers,
    duplex: "half",
  } as RequestInit);
  return { request, seen };
}

describe("readBoundedText", () => {
  it("refuses a declared Content-Length over the limit without reading a byte", async () => {
    const { request, seen } = countingRequest(100, 1024, { "content-length": String(100 * 1024) });
    expect(await readBoundedText(request, SIGN_IN_BODY_LIMIT)).toEqual({ ok: false, reason: "too_large" });
    expect(seen.pulled).toBe(0);
  });

  it("stops a stream with no length as soon as it passes the limit, and cancels it", async () => {
    const { request, seen } = countingRequest(10_000, 1024);
    expect(await readBoundedText(request, 4096)).toEqual({ ok: false, reason: "too_large" });
    // The fifth kilobyte passes 4096: nothing after it is read.
    expect(seen.pulled).toBe(5);
    expect(seen.cancelled).toBe(true);
  });

  it("reads a body at the limit whole, across chunks, as UTF-8", async () => {
    const { request } = countingRequest(4, 1024);
    const read = await readBoundedText(request, 4096);
    expect(read).toEqual({ ok: true, text: "a".repeat(4096) });
    const form = await readBoundedText(
      new Request("http://lb.test/", { method: "POST", body: "token=%C3%A9t%C3%A9+x" }),
      4096,
    );
    expect(form.ok && new URLSearchParams(form.text).get("token")).toBe("été x");
    expect(await readBoundedText(new Request("http://lb.test/", { method: "POST" }), 4096)).toEqual({
      ok: true,
      text: "",
    });
  });

  it("reports a body that breaks off as unreadable, not as an error of ours", async () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error("client went away"));
        sent = true;
        controller.enqueue(new TextEncoder().encode("token=abc"));
      },
    });
    const request = new Request("http://lb.test/_lb/login", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(await readBoundedText(request, 4096)).toEqual({ ok: false, reason: "unreadable" });
  });

  it("counts even when the declared length is within the limit", async () => {
    const { request, seen } = countingRequest(10, 1024, { "content-length": "10" });
    expect(await readBoundedText(request, 4096)).toEqual({ ok: false, reason: "too_large" });
    expect(seen.cancelled).toBe(true);
  });
});

describe("isSameOrigin", () => {
  const url = "http://lb.example:8080/_lb/backends/x/drain";
  const check = (headers: Record<string, string>, at = url) => isSameOrigin(new Headers(headers), at);

  it("accepts an Origin with the request's host and port, whatever the scheme", () => {
    expect(check({ origin: "http://lb.example:8080" })).toBe(true);
    expect(check({ origin: "https://LB.example:8080" })).toBe(true);
    expect(check({ origin: "https://lb.example" }, "http://lb.example/_lb/logout")).toBe(true);
    expect(check({ origin: "https://lb.example" }, "http://lb.example:443/_lb/logout")).toBe(true);
  });

  it("accepts Sec-Fetch-Site: same-origin", () => {
    expect(check({ "sec-fetch-site": "same-origin" })).toBe(true);
    expect(check({ "sec-fetch-site": "same-origin", origin: "https://evil.example" })).toBe(true);
  });

  it("refuses another host or port, a lookalike, null, garbage and no signal at all", () => {
    const refused: Array<Record<string, string>> = [
      { origin: "https://evil.example" },
      { origin: "http://lb.example:8081" },
      { origin: "http://lb.example" },
      { origin: "http://lb.example:8080.evil.example" },
      { origin: "http://evil.example/lb.example:8080" },
      { origin: "null" },
      { origin: "not a url" },
      { origin: "file:///etc/passwd" },
      { "sec-fetch-site": "same-site" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "none" },
      {},
    ];
    for (const headers of refused) {
      expect(check(headers), JSON.stringify(headers)).toBe(false);
    }
  });
});
