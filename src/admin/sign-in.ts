import type { Context, Hono } from "hono";
import { setCookie } from "hono/cookie";
import { errorResponse } from "../shared/error-response.ts";
import { ADMIN_COOKIE, type AdminAuth, crossOrigin, tokenMatches } from "./auth.ts";
import { readBoundedText, SIGN_IN_BODY_LIMIT } from "./bounded-body.ts";
import { loginPage } from "./dashboard.ts";
import { PAGE_SECURITY_HEADERS } from "./dashboard-assets.ts";
import { isSameOrigin } from "./origin.ts";
import { SignInBackoff } from "./sign-in-backoff.ts";

export interface SignInOptions {
  readonly auth: AdminAuth;
  /** Secure unless the operator turned it off for plain-HTTP development (ADMIN_COOKIE_SECURE). */
  readonly cookieSecure: boolean;
  /** The address failed attempts are counted against. */
  readonly clientIp: (c: Context) => string | undefined;
  readonly backoff?: SignInBackoff;
}

/**
 * GET/POST /_lb/login and POST /_lb/logout, registered before the admin gate. Sign-in is the one
 * admin route an anonymous client can make us do work for, so every check that costs nothing
 * (Origin, backoff, declared length) comes before reading a byte of the body.
 */
export function mountSignIn(app: Hono, options: SignInOptions): void {
  const { auth } = options;
  const backoff = options.backoff ?? new SignInBackoff();
  const cookie = (maxAge: number) =>
    ({ path: "/_lb", httpOnly: true, sameSite: "Strict", secure: options.cookieSecure, maxAge }) as const;

  app.get("/_lb/login", (c) => c.html(loginPage(), 200, PAGE_SECURITY_HEADERS));

  app.post("/_lb/login", async (c) => {
    // Login CSRF: a foreign page must not sign a victim's browser in (under any token).
    if (!isSameOrigin(c.req.raw.headers, c.req.url)) return crossOrigin();
    // Without an address every such client shares one backoff: stricter, never looser.
    const address = options.clientIp(c) ?? "unknown";
    const before = backoff.check(address);
    if (!before.allowed) return tooManyAttempts(before.retryAfterS);

    const body = await readBoundedText(c.req.raw, SIGN_IN_BODY_LIMIT);
    if (!body.ok) {
      return body.reason === "too_large"
        ? errorResponse(413, "payload_too_large", `a sign-in form is at most ${SIGN_IN_BODY_LIMIT} bytes`)
        : errorResponse(400, "bad_request", "the sign-in form could not be read");
    }
    // Only application/x-www-form-urlencoded, which is what the form sends; anything else
    // parses to no token and counts as a failed attempt.
    const presented = new URLSearchParams(body.text).get("token") ?? "";

    // Again, with nothing awaited between here and recording the outcome: parallel guesses all
    // passed the first check while their bodies were read, and only the first may be judged.
    const after = backoff.check(address);
    if (!after.allowed) return tooManyAttempts(after.retryAfterS);
    if (!tokenMatches(presented, auth.token)) {
      backoff.failure(address);
      return c.html(loginPage(true), 401, PAGE_SECURITY_HEADERS);
    }
    backoff.success(address);
    setCookie(c, ADMIN_COOKIE, await auth.sessions.issue(), cookie(auth.sessions.ttlS));
    return c.redirect("/_lb/", 303);
  });

  // Clears this browser's cookie only. Sessions are stateless (signed, not stored), so one that
  // was copied elsewhere stays valid until it expires; to end every session now, rotate
  // ADMIN_TOKEN: the signing key derives from it, so all existing sessions stop verifying.
  app.post("/_lb/logout", (c) => {
    if (!isSameOrigin(c.req.raw.headers, c.req.url)) return crossOrigin();
    setCookie(c, ADMIN_COOKIE, "", cookie(0));
    return c.redirect("/_lb/login", 303);
  });
}

function tooManyAttempts(retryAfterS: number): Response {
  const response = errorResponse(
    429,
    "too_many_attempts",
    `sign-in failed recently from this address: try again in ${retryAfterS} s`,
  );
  response.headers.set("retry-after", String(retryAfterS));
  return response;
}
