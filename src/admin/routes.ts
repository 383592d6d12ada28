import { Hono } from "hono";
import type { PoolRuntime } from "../proxy/handler.ts";
import { errorResponse } from "../proxy/errors.ts";
import type { AdminState } from "../state/types.ts";
import { DASHBOARD_PAGE } from "./dashboard.ts";
import { renderMetrics } from "./metrics.ts";
import { statusOf } from "./status.ts";

/** POST /_lb/backends/:name/<action>: the admin state each action sets. */
const ACTIONS: Readonly<Record<string, AdminState>> = { drain: "drained", disable: "disabled", enable: "enabled" };

/**
 * The admin API (mounted under /_lb behind the bearer token): status, and drain / disable /
 * enable of one backend. Changes are written to the shared store before they are confirmed, so
 * every instance applies them at its next sync.
 */
export function adminRoutes(instance: string, pools: readonly PoolRuntime[]): Hono {
  const admin = new Hono();
  admin.get("/", (c) => c.html(DASHBOARD_PAGE));
  admin.get("/status", async (c) => {
    await Promise.all(pools.map((p) => p.state.refresh()));
    return c.json(statusOf(instance, pools));
  });
  admin.get("/metrics", (c) =>
    c.body(renderMetrics(pools), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
  admin.post("/backends/:name/:action", async (c) => {
    const { name, action } = c.req.param();
    const state = ACTIONS[action];
    if (!state) return errorResponse(404, "not_found", `unknown action ${JSON.stringify(action)}: expected drain, disable or enable`);
    const pool = pools.find((p) => p.config.backends.some((b) => b.name === name));
    if (!pool) return errorResponse(404, "not_found", `no backend named ${JSON.stringify(name)}`);
    try {
      await pool.state.write(name, { admin: state });
    } catch (error) {
      return errorResponse(503, "store_unavailable", `the change was not stored: ${(error as Error).message}`);
    }
    return c.json({ backend: name, admin: state });
  });
  return admin;
}
