// The admin surface (sign-in, dashboard, API, about 20 KB minified with what only it uses) is
// imported on the first request under /_lb, not when the balancer starts: most requests an
// isolate or process serves are proxied, and a Worker's entry module should hold only what they
// need (scripts/build-worker.ts splits this import into a module of its own). The admin routes
// live in an app of their own, built once; this one hands every /_lb request to it.
import { type Context, type ErrorHandler, Hono } from "hono";
import { errorResponse } from "../shared/error-response.ts";
import type { AdminOptions } from "./mount-admin.ts";

/**
 * Everything under /_lb but what `app` registered before (healthz), as mountAdmin would answer
 * it. With no token configured it answers 404 without importing anything.
 */
export function mountAdminOnFirstUse(app: Hono, options: AdminOptions, onError: ErrorHandler): void {
  if (!options.token) {
    app.all("/_lb/*", () => errorResponse(404, "not_found", "admin routes are off: set ADMIN_TOKEN to enable them"));
    return;
  }
  let admin: Promise<Hono> | undefined;
  const load = () => {
    admin ??= import("./mount-admin.ts").then(({ mountAdmin }) => {
      const routes = new Hono();
      mountAdmin(routes, options);
      routes.onError(onError);
      return routes;
    });
    // A failed import is not kept: the next admin request tries again.
    admin.catch(() => {
      admin = undefined;
    });
    return admin;
  };
  // "/_lb/*" matches "/_lb" too, the pattern mountAdmin ends with: the two apps agree on what is admin.
  app.all("/_lb/*", async (c) => (await load()).fetch(c.req.raw, c.env, executionContextOf(c)));
}

/** Workers' ExecutionContext, where there is one (Hono's getter throws elsewhere). */
function executionContextOf(c: Context) {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}
