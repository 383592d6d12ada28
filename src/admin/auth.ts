import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { errorResponse } from "../proxy/errors.ts";

/** Browsers (the dashboard) present the token in this cookie, set by POST /_lb/login. */
export const ADMIN_COOKIE = "edge_lb_admin";

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>` (or the dashboard's cookie holding
 * it), compared in constant time. With no token configured the admin surface does not exist
 * (404), so nothing is open by default.
 */
export function requireAdminToken(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token) return errorResponse(404, "not_found", "admin routes are off: set ADMIN_TOKEN to enable them");
    const header = c.req.header("authorization") ?? "";
    const presented = header.startsWith("Bearer ") ? header.slice(7) : getCookie(c, ADMIN_COOKIE) ?? "";
    if (!tokenMatches(presented, token)) {
      return errorResponse(401, "unauthorized", "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
    }
    await next();
  };
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
