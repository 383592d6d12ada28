import { type Balancer, createBalancer } from "../app.ts";
import { ConfigError, loadConfig } from "../config/load-config.ts";
import { locationOf } from "../routing/geo.ts";
import { errorResponse } from "../shared/error-response.ts";
import { WorkerWebSocketConnector } from "./cloudflare/websocket-connector.ts";
import { createStore } from "./create-store.ts";

// The Durable Object class behind STATE=durable-object (binding LB_STATE in wrangler.toml). It
// is exported here, from the Worker entry only: create-store.ts, shared with Node/Bun/Deno, must not
// import "cloudflare:workers".
export { PoolStateObject } from "./cloudflare/pool-state-object.ts";

export interface WorkerEnv {
  readonly [name: string]: unknown;
}

/** Stateless: one for every request of the isolate. */
const webSockets = new WorkerWebSocketConnector();

/**
 * One balancer per isolate, built on the first request from the Worker's vars (env is only
 * handed to handlers). A bad config cannot stop a Worker from deploying, so every request gets
 * a 503 instead, and the log says it once. The 503 goes to any client, so it names only where
 * the bad settings came from; the (redacted) values and reasons are for the operator's log.
 */
let built: { env: WorkerEnv; balancer: Balancer } | { env: WorkerEnv; error: ConfigError } | undefined;

function balancerFor(env: WorkerEnv): Balancer | ConfigError {
  if (built?.env !== env) {
    try {
      const config = loadConfig({ env });
      built = {
        env,
        balancer: createBalancer(config, {
          store: createStore(config, env),
          clientIp: (c) => c.req.header("cf-connecting-ip"),
          // The edge located the client: request.cf, never a header a client could write.
          clientLocation: (c) => {
            const cf = c.req.raw.cf;
            return locationOf(cf?.country, cf?.continent, cf?.latitude, cf?.longitude);
          },
          waitUntil: true,
          webSockets: () => webSockets,
          // The JSON access log learns when a body has gone without a JavaScript stream in its way.
          pipeBody: (body, length) => {
            const { readable, writable } = new FixedLengthStream(length);
            return { body: readable, done: body.pipeTo(writable) };
          },
        }),
      };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      console.error(error.message);
      built = { env, error };
    }
  }
  return "balancer" in built ? built.balancer : built.error;
}

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    const balancer = balancerFor(env);
    if (balancer instanceof ConfigError) {
      return errorResponse(
        503,
        "bad_config",
        `invalid configuration in ${balancer.sources.join(", ")}; the Worker's log has the details`,
      );
    }
    return balancer.fetch(request, env, ctx);
  },
  /** Cron Trigger (wrangler.toml [triggers]): a health-check round when one is due. */
  async scheduled(_controller: ScheduledController, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    const balancer = balancerFor(env);
    if (balancer instanceof ConfigError) return;
    await balancer.runHealthChecks((work) => ctx.waitUntil(work.catch(() => undefined)));
  },
} satisfies ExportedHandler<WorkerEnv>;
