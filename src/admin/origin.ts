// CSRF: a browser attaches the session cookie to any request aimed at us, including a form
// another site submits. SameSite=Strict already keeps it off cross-site requests in current
// browsers; this is the second lock, and the only one for sign-in (which carries no cookie yet,
// so a foreign page could otherwise sign a victim in under the attacker's token).

/** A method that changes nothing and so needs no Origin. */
export function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/**
 * True when the browser says the request came from our own pages: `Origin`'s host[:port] equals
 * the request's Host, or `Sec-Fetch-Site: same-origin`. Only the authority is compared: a TLS
 * terminator in front changes the scheme (the browser's https is our http), not the host.
 * The Host is read from the request URL, which every runtime builds from it (Workers, and
 * @hono/node-server on Node); the raw header can differ where a local proxy sits in between
 * (miniflare forwards with its own loopback Host).
 * No Origin and no Sec-Fetch-Site (or `Origin: null`, sent by sandboxed and privacy-stripped
 * contexts) is refused: scripts use the bearer token, which needs neither.
 */
export function isSameOrigin(headers: Headers, requestUrl: string): boolean {
  if (headers.get("sec-fetch-site")?.trim().toLowerCase() === "same-origin") return true;
  const origin = headers.get("origin");
  if (!origin || origin === "null") return false;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return false;
  }
  return originHost !== "" && authority(originHost) === authority(new URL(requestUrl).host);
}

/**
 * Lower case, without a default port: with the scheme ignored, "example.com:443" behind a
 * terminator and the browser's "https://example.com" name the same place.
 */
function authority(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/:(80|443)$/, "");
}
