import type { MiddlewareHandler } from "hono";
import { errorResponse } from "../proxy/errors.ts";

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. With no
 * token configured the admin surface does not exist (404), so nothing is open by default.
 */
export function requireAdminToken(token: string | undefined): MiddlewareHandler {
  const expected = token ? new TextEncoder().encode(token) : undefined;
  return async (c, next) => {
    if (!expected) return errorResponse(404, "not_found", "admin routes are off: set ADMIN_TOKEN to enable them");
    const header = c.req.header("authorization") ?? "";
    const presented = new TextEncoder().encode(header.startsWith("Bearer ") ? header.slice(7) : "");
    if (!timingSafeEqual(presented, expected)) {
      return errorResponse(401, "unauthorized", "admin routes need Authorization: Bearer <ADMIN_TOKEN>");
    }
    await next();
  };
}

/** Constant time in the length of the expected token, whatever is presented. */
export function timingSafeEqual(presented: Uint8Array, expected: Uint8Array): boolean {
  let diff = presented.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= (presented[i % (presented.length || 1)] ?? 0) ^ expected[i]!;
  return diff === 0;
}
