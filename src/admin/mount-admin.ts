import type { Context, Hono } from "hono";
import type { PoolRuntime } from "../pool/pool-runtime.ts";
import { errorResponse } from "../shared/error-response.ts";
import type { AdminState } from "../state/types.ts";
import { type AdminAuth, callerOf, requireAdmin } from "./auth.ts";
import { dashboardPage } from "./dashboard.ts";
import { mountAssets, PAGE_SECURITY_HEADERS } from "./dashboard-assets.ts";
import { poolOfBackend } from "./find-backend.ts";
import { readNumberField } from "./number-body.ts";
import { renderMetrics } from "./render-metrics.ts";
import { type RoutingView, renderRoutingMetrics } from "./render-routing-metrics.ts";
import { AdminSessions } from "./session.ts";
import { mountSignIn } from "./sign-in.ts";
import { statusOf } from "./status-of.ts";
import { mountWeight } from "./weight-route.ts";

/** The longest drain (a week): sessions older than that have long been renewed elsewhere. */
const MAX_DRAIN_SECONDS = 7 * 86_400;

/** POST /_lb/backends/:name/<action>: the admin state each action sets. */
const ACTIONS: Readonly<Record<string, AdminState>> = { drain: "drained", disable: "disabled", enable: "enabled" };

export interface AdminOptions {
  /** ADMIN_TOKEN; without it the admin surface does not exist. */
  readonly token: string | undefined;
  readonly sessionTtlS: number;
  readonly cookieSecure: boolean;
  readonly clientIp: (c: Context) => string | undefined;
  readonly instance: string;
  readonly pools: readonly PoolRuntime[];
  /** DRAIN_SECONDS: how long a drain without its own duration keeps affinity sessions. */
  readonly drainSeconds: number;
  readonly routing: RoutingView;
}

/**
 * Everything under /_lb but /_lb/healthz. With no token configured all of it answers 404, so
 * nothing is open by default. Registration order is the access policy: sign-in and the
 * dashboard page (which redirects a browser to sign-in) come before the gate, the API after it,
 * and an unknown admin path is answered here rather than proxied to a backend.
 */
export function mountAdmin(app: Hono, options: AdminOptions): void {
  const { token } = options;
  if (!token) {
    app.all("/_lb/*", () => errorResponse(404, "not_found", "admin routes are off: set ADMIN_TOKEN to enable them"));
    return;
  }
  const auth: AdminAuth = { token, sessions: new AdminSessions(token, options.sessionTtlS) };
  mountSignIn(app, { auth, cookieSecure: options.cookieSecure, clientIp: options.clientIp });
  mountAssets(app);
  // Hono's strict routing treats "/_lb/" apart from "/_lb"; the dashboard answers both.
  app.on("GET", ["/_lb", "/_lb/"], async (c) =>
    (await callerOf(c, auth)) ? c.html(dashboardPage(), 200, PAGE_SECURITY_HEADERS) : c.redirect("/_lb/login", 302),
  );
  app.use("/_lb/*", requireAdmin(auth));
  mountApi(app, options);
  app.all("/_lb/*", () => errorResponse(404, "not_found", "no such admin route"));
}

/**
 * The admin API (behind the gate): status, metrics, drain / disable / enable and the weight of
 * one backend. Changes are written to the shared store before they are confirmed, so every
 * instance applies them at its next sync.
 */
function mountApi(app: Hono, { instance, pools, drainSeconds, routing }: AdminOptions): void {
  app.get("/_lb/status", async (c) => {
    await Promise.all(pools.map((p) => p.state.refresh()));
    return c.json(statusOf(instance, pools, routing.routes));
  });
  app.get("/_lb/metrics", (c) =>
    c.body(renderMetrics(pools) + renderRoutingMetrics(pools, routing), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );
  // Actions with a body have routes of their own, registered before the bodiless ones.
  mountWeight(app, pools);
  const act = async (c: Context, poolName: string | undefined) => {
    const name = c.req.param("name")!;
    const action = c.req.param("action")!;
    const state = ACTIONS[action];
    if (!state)
      return errorResponse(
        404,
        "not_found",
        `unknown action ${JSON.stringify(action)}: expected drain, disable, enable or weight`,
      );
    const pool = poolOfBackend(pools, poolName, name);
    if (pool instanceof Response) return pool;
    // A drain keeps existing affinity sessions for its duration (body {"seconds": N}); then the
    // backend takes nothing. Enabling ends any drain.
    let drainUntil: number | undefined;
    if (state === "drained") {
      const seconds = await readNumberField(c.req.raw, {
        name: "seconds",
        min: 0,
        max: MAX_DRAIN_SECONDS,
        fallback: drainSeconds,
      });
      if (seconds instanceof Response) return seconds;
      drainUntil = Date.now() + seconds * 1000;
    } else if (state === "enabled") drainUntil = 0;
    try {
      await pool.state.write(name, { admin: state, ...(drainUntil === undefined ? {} : { drainUntil }) });
    } catch (error) {
      return errorResponse(503, "store_unavailable", `the change was not stored: ${(error as Error).message}`);
    }
    const url = pool.spec.backends.find((b) => b.name === name)!.url;
    pool.log(`${url} [${state}] (admin)`, { event: state, backend: name, url });
    return c.json({
      pool: pool.spec.name,
      backend: name,
      admin: state,
      ...(state === "drained" ? { drain_until: new Date(drainUntil!).toISOString() } : {}),
    });
  };
  app.post("/_lb/backends/:name/:action", (c) => act(c, undefined));
  app.post("/_lb/pools/:pool/backends/:name/:action", (c) => act(c, c.req.param("pool")));
}
