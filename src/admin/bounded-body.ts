// Reads a small request body without ever holding more than the limit: a sign-in form is a few
// dozen bytes, and parsing a body whole before looking at it let one 200 MB POST take Node to
// 1.1 GB.

/** A sign-in form is `token=<at most a few hundred characters>`; 4 KiB leaves plenty of room. */
export const SIGN_IN_BODY_LIMIT = 4096;

export type BoundedBody =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: "too_large" | "unreadable" };

/**
 * The body as text, or `too_large` once it is known to exceed `limit` bytes: at once from a
 * declared Content-Length, otherwise (chunked) as soon as the running count passes the limit,
 * when the stream is cancelled so nothing more is read into memory. `unreadable`: the client
 * broke off mid-body, which is its doing, not a failure of ours.
 */
export async function readBoundedText(request: Request, limit: number): Promise<BoundedBody> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > limit)
    return { ok: false, reason: "too_large" };
  if (!request.body) return { ok: true, text: "" };
  // The count applies to declared lengths too: a runtime that let a body run past its header
  // must not get past us.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      return { ok: false, reason: "unreadable" };
    }
    const { done, value } = next;
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // The client may still be sending; not awaited, so the refusal goes out at once.
      void reader.cancel().catch(() => undefined);
      return { ok: false, reason: "too_large" };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, text: new TextDecoder().decode(bytes) };
}
