import { type Balancer, createBalancer } from "../app.ts";
import { ConfigError, loadConfig } from "../config/load-config.ts";
import type { WebSocketConnector } from "../proxy/websocket-connector.ts";
import { locationOf } from "../routing/geo.ts";
import { errorResponse } from "../shared/error-response.ts";
import { createStore } from "./create-store.ts";

// The Durable Object class behind STATE=durable-object (binding LB_STATE in wrangler.toml). It
// is exported here, from the Worker entry only: create-store.ts, shared with Node/Bun/Deno, must not
// import "cloudflare:workers".
export { PoolStateObject } from "./cloudflare/pool-state-object.ts";

export interface WorkerEnv {
  readonly [name: string]: unknown;
}

/**
 * Stateless: one for every request of the isolate. Its module (and the relay behind it) is
 * imported by the first upgrade, like the upgrade path itself: the entry module holds what plain
 * requests need.
 */
const webSockets: WebSocketConnector = {
  async connect(upgrade) {
    const { WorkerWebSocketConnector } = await import("./cloudflare/websocket-connector.ts");
    return new WorkerWebSocketConnector().connect(upgrade);
  },
};

type Built = Balancer | ConfigError;

/**
 * One balancer per isolate, built on the first request from the Worker's vars (env is only
 * handed to handlers). A bad config cannot stop a Worker from deploying, so every request gets
 * a 503 instead, and the log says it once. The 503 goes to any client, so it names only where
 * the bad settings came from; the (redacted) values and reasons are for the operator's log.
 *
 * Building is asynchronous (createStore imports the store adapter the config names), so the
 * first requests of an isolate wait on one promise; once it has settled, `ready` answers every
 * later request without a promise in its way. Anything but a ConfigError is not kept: the next
 * request tries again, as it did when building threw synchronously.
 */
let built: { env: WorkerEnv; pending: Promise<Built>; ready?: Built } | undefined;

function balancerFor(env: WorkerEnv): Built | Promise<Built> {
  if (built?.env === env) return built.ready ?? built.pending;
  const entry: NonNullable<typeof built> = { env, pending: build(env) };
  built = entry;
  entry.pending.then(
    (result) => {
      entry.ready = result;
    },
    () => {
      if (built === entry) built = undefined;
    },
  );
  return entry.pending;
}

async function build(env: WorkerEnv): Promise<Built> {
  try {
    const config = loadConfig({ env });
    return createBalancer(config, {
      store: await createStore(config, env),
      clientIp: (c) => c.req.header("cf-connecting-ip"),
      // The edge located the client: request.cf, never a header a client could write.
      clientLocation: (c) => {
        const cf = c.req.raw.cf;
        return locationOf(cf?.country, cf?.continent, cf?.latitude, cf?.longitude);
      },
      waitUntil: true,
      webSockets: () => webSockets,
      // workerd streams a passed-on body itself once the handler has returned and says nothing
      // of its end; the JSON access log records such a response when it is handed over
      // (request-trace.ts) rather than hold the isolate in a pipe for every response.
      responseSent: () => "unobserved",
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return error;
  }
}

function serve(balancer: Built, request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
  if (balancer instanceof ConfigError) {
    return errorResponse(
      503,
      "bad_config",
      `invalid configuration in ${balancer.sources.join(", ")}; the Worker's log has the details`,
    );
  }
  return balancer.fetch(request, env, ctx);
}

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    const balancer = balancerFor(env);
    if (balancer instanceof Promise) return balancer.then((ready) => serve(ready, request, env, ctx));
    return serve(balancer, request, env, ctx);
  },
  /** Cron Trigger (wrangler.toml [triggers]): a health-check round when one is due. */
  async scheduled(_controller: ScheduledController, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    const balancer = await balancerFor(env);
    if (balancer instanceof ConfigError) return;
    await balancer.runHealthChecks((work) => ctx.waitUntil(work.catch(() => undefined)));
  },
} satisfies ExportedHandler<WorkerEnv>;
