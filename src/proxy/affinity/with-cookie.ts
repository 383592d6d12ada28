/**
 * `response` with one more Set-Cookie. fetch's responses have immutable headers on some
 * runtimes, so a copy is made, only when there is a cookie to add (a placement or a renewal).
 */
export function withCookie(response: Response, cookie: string | undefined): Response {
  if (!cookie) return response;
  try {
    response.headers.append("set-cookie", cookie);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.append("set-cookie", cookie);
    return copy;
  }
}
