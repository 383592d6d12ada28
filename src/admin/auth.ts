import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { errorResponse } from "../shared/error-response.ts";
import { isSafeMethod, isSameOrigin } from "./origin.ts";
import type { AdminSessions } from "./session.ts";

/** The dashboard's signed session (never the token itself), set by POST /_lb/login. */
export const ADMIN_COOKIE = "edge_lb_admin";

/** How a request proved itself: a script's bearer token, or a browser's session cookie. */
export type AdminCaller = "bearer" | "session";

export interface AdminAuth {
  readonly token: string;
  readonly sessions: AdminSessions;
}

/**
 * Who is calling, or undefined. A request that presents a bearer token is judged by it alone: a
 * wrong token is not rescued by a cookie the browser happened to attach.
 */
export async function callerOf(c: Context, auth: AdminAuth): Promise<AdminCaller | undefined> {
  const header = c.req.header("authorization");
  if (header !== undefined && /^bearer /i.test(header)) {
    return tokenMatches(header.slice(7), auth.token) ? "bearer" : undefined;
  }
  return (await auth.sessions.verify(getCookie(c, ADMIN_COOKIE))) ? "session" : undefined;
}

/**
 * The admin API's gate: `Authorization: Bearer <ADMIN_TOKEN>` (scripts, no Origin needed) or a
 * valid session cookie (the dashboard), which for anything but GET/HEAD also needs a same-origin
 * Origin, so a foreign page cannot ride the cookie.
 */
export function requireAdmin(auth: AdminAuth): MiddlewareHandler {
  return async (c, next) => {
    const caller = await callerOf(c, auth);
    if (!caller) {
      return errorResponse(
        401,
        "unauthorized",
        "admin routes need Authorization: Bearer <ADMIN_TOKEN> or a dashboard sign-in",
      );
    }
    if (caller === "session" && !isSafeMethod(c.req.method) && !isSameOrigin(c.req.raw.headers, c.req.url)) {
      return crossOrigin();
    }
    await next();
  };
}

export function crossOrigin(): Response {
  return errorResponse(
    403,
    "forbidden",
    "a signed-in browser request that changes state must come from the dashboard's own origin",
  );
}

export function tokenMatches(presented: string, expected: string): boolean {
  const encoder = new TextEncoder();
  return timingSafeEqual(encoder.encode(presented), encoder.encode(expected));
}

/** Constant time in the length of the expected token, whatever is presented. */
export function timingSafeEqual(presented: Uint8Array, expected: Uint8Array): boolean {
  let diff = presented.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= (presented[i % (presented.length || 1)] ?? 0) ^ expected[i]!;
  return diff === 0;
}
