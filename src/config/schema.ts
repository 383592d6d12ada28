import { ALGORITHM_NAMES } from "../balancer/registry.ts";
import type { Backend } from "../shared/backend.ts";
import { parseCidr, TRUST_PROXY_EXPECTED } from "../shared/ip-networks.ts";
import { POOL_NAME, STATE_KINDS } from "../state/types.ts";
import { affinitySchema, signsCookies } from "./affinity-schema.ts";
import { locationHeadersSchema, routeProblems, routeSchema } from "./routes-schema.ts";
import * as z from "./zod.ts";

/**
 * The one schema. JSON keys are snake_case like nginx/HAProxy directives; the Config type is
 * inferred from it so there is exactly one description of what a valid config is.
 */

const MAX_WEIGHT = 1000;

export const backendUrl = z.string().check(
  z.superRefine((raw, ctx) => {
    const problem = backendUrlProblem(raw);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
);

/** Why a backend URL is unacceptable, or undefined when it is fine. */
export function backendUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "expected an absolute http:// or https:// URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `expected scheme http or https, not ${url.protocol.slice(0, -1)}`;
  }
  if (url.username || url.password) return "expected no credentials in the URL (user:pass@)";
  if (raw.includes("#")) return "expected no fragment (#...)";
  if (url.search || raw.includes("?")) return "expected no query string";
  if (!url.hostname) return "expected a host name";
  return undefined;
}

/** Origin plus base path without a trailing slash: the prefix every upstream URL starts with. */
export function normalizeBackendUrl(raw: string): string {
  const url = new URL(raw);
  return url.origin + url.pathname.replace(/\/+$/, "");
}

const backendSchema = z.strictObject({
  name: z.optional(
    z.string().check(z.regex(/^[A-Za-z0-9_.:\-[\]]+$/, "expected letters, digits and _ . : - [ ] only")),
  ),
  url: backendUrl,
  weight: z._default(z.int().check(z.gte(1), z.lte(MAX_WEIGHT)), 1),
  backup: z._default(z.boolean(), false),
});

const hashKeySchema = z.discriminatedUnion("source", [
  z.strictObject({ source: z.literal("ip") }),
  z.strictObject({ source: z.literal("header"), name: z.string().check(z.minLength(1)) }),
  z.strictObject({ source: z.literal("cookie"), name: z.string().check(z.minLength(1)) }),
]);

const retrySchema = z.strictObject({
  max_attempts: z._default(z.int().check(z.gte(1), z.lte(10)), 3),
  max_body_bytes: z._default(z.int().check(z.gte(0), z.lte(16 * 1024 * 1024)), 64 * 1024),
  /** Each successful response earns this share of a retry (Finagle-style budget). */
  budget_percent: z._default(z.number().check(z.gte(0), z.lte(100)), 20),
  /** Retries kept in reserve, so a quiet instance can still retry. */
  budget_reserve: z._default(z.int().check(z.gte(0), z.lte(1000)), 10),
});

const healthCheckSchema = z.strictObject({
  path: z._default(z.string().check(z.startsWith("/", "expected a path starting with /")), "/"),
  method: z._default(z.enum(["GET", "HEAD", "OPTIONS"]), "GET"),
  expected_status: z._default(
    z
      .array(z.string().check(z.regex(/^([1-5]xx|[1-5]\d\d)$/, 'expected a status like "2xx" or "204"')))
      .check(z.minLength(1)),
    ["2xx"],
  ),
  body_contains: z.optional(z.string().check(z.minLength(1))),
  headers: z._default(z.record(z.string(), z.string()), {}),
  timeout_ms: z._default(z.int().check(z.gte(1), z.lte(60_000)), 2_000),
  interval_ms: z._default(z.int().check(z.gte(500), z.lte(3_600_000)), 10_000),
  rise: z._default(z.int().check(z.gte(1), z.lte(100)), 2),
  fall: z._default(z.int().check(z.gte(1), z.lte(100)), 3),
});

const outlierSchema = z.strictObject({
  consecutive_failures: z._default(z.int().check(z.gte(0), z.lte(1000)), 5),
  base_ejection_ms: z._default(z.int().check(z.gte(100), z.lte(3_600_000)), 30_000),
  max_ejection_ms: z._default(z.int().check(z.gte(100), z.lte(86_400_000)), 300_000),
  max_ejection_percent: z._default(z.number().check(z.gte(0), z.lte(100)), 50),
  /**
   * Count every 5xx as a failure. Off by default: 502/503/504, timeouts and refused
   * connections always count (Envoy's consecutive_gateway_failure), but a 500 is usually the
   * application's answer to one request, and any client could provoke it on purpose.
   */
  failure_on_5xx: z._default(z.boolean(), false),
});

export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type OutlierConfig = z.output<typeof outlierSchema>;

const poolSchema = z.pipe(
  z
    .strictObject({
      name: z._default(z.string().check(z.regex(POOL_NAME, "expected letters, digits and _ . - only")), "default"),
      algorithm: z._default(z.enum(ALGORITHM_NAMES), "round-robin"),
      backends: z.array(backendSchema).check(z.minLength(1, "expected at least one backend")),
      hash_key: z._default(hashKeySchema, { source: "ip" }),
      timeout_ms: z._default(z.int().check(z.gte(1), z.lte(600_000)), 30_000),
      preserve_host: z._default(z.boolean(), false),
      retry: z._default(retrySchema, retrySchema.parse({})),
      /** Active checks; absent means none (passive ejection still applies). */
      health_check: z.optional(healthCheckSchema),
      outlier: z._default(outlierSchema, outlierSchema.parse({})),
      /** Below this share of usable primaries, use every primary rather than few (Envoy panic). */
      panic_threshold_percent: z._default(z.number().check(z.gte(0), z.lte(100)), 0),
      /** A recovered backend's share ramps linearly over this window (nginx slow_start). */
      slow_start_ms: z._default(z.int().check(z.gte(0), z.lte(3_600_000)), 0),
      affinity: z._default(affinitySchema, affinitySchema.parse({})),
      /** Below this many usable backends the pool is passed over by steering (Cloudflare's minimum origins). */
      minimum_healthy: z._default(z.int().check(z.gte(1), z.lte(1000)), 1),
      /** Where the pool is, for proximity steering. */
      latitude: z.optional(z.number().check(z.gte(-90), z.lte(90))),
      longitude: z.optional(z.number().check(z.gte(-180), z.lte(180))),
      /** The pool's share under random and least-outstanding steering. */
      weight: z._default(z.number().check(z.gte(0), z.lte(1000)), 1),
    })
    .check(
      z.superRefine((pool, ctx) => {
        if (pool.minimum_healthy > pool.backends.length) {
          ctx.addIssue({
            code: "custom",
            path: ["minimum_healthy"],
            input: pool.minimum_healthy,
            message: `expected at most the number of backends (${pool.backends.length}): the pool could never be healthy`,
          });
        }
        if ((pool.latitude === undefined) !== (pool.longitude === undefined)) {
          const missing = pool.latitude === undefined ? "latitude" : "longitude";
          ctx.addIssue({
            code: "custom",
            path: [missing],
            input: undefined,
            message: "expected latitude and longitude together",
          });
        }
        const seenUrls = new Map<string, number>();
        const seenNames = new Map<string, number>();
        pool.backends.forEach((backend, index) => {
          if (backendUrlProblem(backend.url)) return;
          const url = normalizeBackendUrl(backend.url);
          const name = backend.name ?? defaultBackendName(url);
          const urlAt = seenUrls.get(url);
          if (urlAt !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["backends", index, "url"],
              input: backend.url,
              message: `expected each backend URL once; it repeats backends[${urlAt}]`,
            });
          }
          const nameAt = seenNames.get(name);
          if (nameAt !== undefined && urlAt === undefined) {
            ctx.addIssue({
              code: "custom",
              path: ["backends", index, "name"],
              input: name,
              message: `expected unique backend names; it repeats backends[${nameAt}]`,
            });
          }
          seenUrls.set(url, index);
          seenNames.set(name, index);
        });
      }),
    ),
  z.transform((pool) => ({
    ...pool,
    backends: pool.backends.map((b): Backend => {
      const url = normalizeBackendUrl(b.url);
      return { name: b.name ?? defaultBackendName(url), url, weight: b.weight, backup: b.backup };
    }),
  })),
);

/** host:port plus base path: readable in logs and stable while the URL is unchanged. */
export function defaultBackendName(normalizedUrl: string): string {
  const url = new URL(normalizedUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}${url.pathname === "/" ? "" : url.pathname}`;
}

export const configSchema = z
  .strictObject({
    /** Node, Bun, Deno: the port to serve (0 picks a free one). */
    port: z._default(z.int().check(z.gte(0), z.lte(65_535)), 3_000),
    /** Node, Bun, Deno: the address to bind. */
    host: z._default(z.string().check(z.minLength(1)), "0.0.0.0"),
    /** Node, Bun, Deno: networks whose X-Forwarded-For (and X-Forwarded-Proto) is believed. */
    trust_proxy: z._default(
      z.array(z.string().check(z.refine((text) => parseCidr(text) !== undefined, `expected ${TRUST_PROXY_EXPECTED}`))),
      [],
    ),
    /** Node, Bun, Deno: on SIGTERM/SIGINT, how long requests in flight get. */
    shutdown_timeout_ms: z._default(z.int().check(z.gte(0), z.lte(86_400_000)), 30_000),
    pools: z.array(poolSchema).check(z.minLength(1, "expected at least one pool")),
    /** Tried in order, first match wins; absent: one catch-all over every pool, failover in order. */
    routes: z.optional(z.array(routeSchema).check(z.minLength(1, "expected at least one route"))),
    /** Node, Bun, Deno: where a trusted proxy in front reports the client's location. */
    location_headers: z._default(locationHeadersSchema, locationHeadersSchema.parse({})),
    state: z._default(z.enum(STATE_KINDS), "memory"),
    /** Deno, STATE=deno-kv: the KV database file; absent, Deno's default (Deno Deploy's own store). */
    deno_kv_path: z.optional(z.string().check(z.minLength(1, "expected a file path"))),
    /** Namespaces every key in a shared store, so two balancers can share one Redis. */
    state_prefix: z._default(
      z.string().check(z.regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected 1-64 letters, digits and _ . : -")),
      "edge-lb",
    ),
    /** Most sequence positions one store call reserves; 1 keeps exact global round robin. */
    sequence_batch: z._default(z.int().check(z.gte(1), z.lte(10_000)), 64),
    store_timeout_ms: z._default(z.int().check(z.gte(1), z.lte(60_000)), 200),
    /** How stale the shared view (health, flags, load) may get while requests flow. */
    sync_interval_ms: z._default(z.int().check(z.gte(10), z.lte(600_000)), 1_000),
    /**
     * Store calls per second the fleet's background syncs may spend on one pool: past it, each
     * instance syncs once per (live instances / budget) seconds instead. 0 = no budget.
     */
    sync_budget: z._default(z.int().check(z.gte(0), z.lte(100_000)), 400),
    /** Least gap between in-flight reports for least-connections and least-response-time. */
    report_gap_ms: z._default(z.int().check(z.gte(1), z.lte(60_000)), 50),
    /** In-flight counts of an instance that stops reporting stop counting after this. */
    inflight_ttl_ms: z._default(z.int().check(z.gte(1_000), z.lte(600_000)), 15_000),
    log_requests: z._default(z.boolean(), true),
    /** text: the seed's lines; json: one object per finished request and per state change. */
    log_format: z._default(z.enum(["text", "json"]), "text"),
    /** Carries the request id both ways; a client's own is kept when it is a sane token. */
    request_id_header: z._default(
      z.pipe(
        z
          .string()
          .check(
            z.regex(
              /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/,
              "expected a header name (a token: letters, digits, !#$%&'*+-.^_`|~)",
            ),
          ),
        z.transform((name: string) => name.toLowerCase()),
      ),
      "x-request-id",
    ),
    /** Bearer token for /_lb admin routes; without it they answer 404. */
    admin_token: z.optional(z.string().check(z.minLength(16, "expected at least 16 characters"))),
    /** Lifetime of a dashboard sign-in (the signed session cookie). */
    admin_session_ttl_s: z._default(z.int().check(z.gte(60), z.lte(30 * 86_400)), 12 * 3_600),
    /** The session cookie is Secure unless turned off for plain-HTTP development. */
    admin_cookie_secure: z._default(z.boolean(), true),
    /** Longest request target (path and query) in bytes: 414 above it. */
    max_url_bytes: z._default(z.int().check(z.gte(256), z.lte(1_048_576)), 8_192),
    /** Most bytes of request header names and values together: 431 above it. */
    max_header_bytes: z._default(z.int().check(z.gte(1_024), z.lte(1_048_576)), 32_768),
    /** Largest request body in bytes: 413 above it; 0 = unlimited (streamed, never buffered). */
    max_request_body_bytes: z._default(z.int().check(z.gte(0), z.lte(Number.MAX_SAFE_INTEGER)), 0),
    /** Node, Bun, Deno: time a client gets to send the request headers. */
    header_timeout_ms: z._default(z.int().check(z.gte(100), z.lte(600_000)), 10_000),
    /**
     * Node, Bun, Deno: an idle keep-alive connection, or an upload that sends nothing, is
     * closed after this long. Waiting on the upstream is bounded by timeout_ms instead.
     */
    idle_timeout_ms: z._default(z.int().check(z.gte(100), z.lte(3_600_000)), 60_000),
    /** Node: most client connections open at once; more are refused. 0 = no cap. */
    max_connections: z._default(z.int().check(z.gte(0), z.lte(10_000_000)), 10_000),
    /** Node: most connections open to one backend at once (its keep-alive pool); 0 = no cap. */
    upstream_connections: z._default(z.int().check(z.gte(0), z.lte(1_000_000)), 0),
    /** A WebSocket with no message either way for this long is closed (1001); 0 = no cap. */
    websocket_idle_timeout_ms: z._default(z.int().check(z.gte(0), z.lte(86_400_000)), 0),
    /** Signs affinity cookies; every instance sharing a store needs the same one. */
    affinity_secret: z.optional(z.string().check(z.minLength(16, "expected at least 16 characters"))),
    /** A drain without a duration of its own keeps affinity sessions this long. */
    drain_seconds: z._default(z.int().check(z.gte(0), z.lte(7 * 86_400)), 0),
  })
  .check(
    z.superRefine((config, ctx) => {
      for (const issue of routeProblems(config.routes, config.pools)) ctx.addIssue({ code: "custom", ...issue });
      if (signsCookies(config.pools) && config.state !== "memory" && !config.affinity_secret) {
        ctx.addIssue({
          code: "custom",
          path: ["affinity_secret"],
          input: undefined,
          message: `expected a secret of 16+ characters in AFFINITY_SECRET: cookie affinity with STATE=${config.state} needs one every instance shares, to verify each other's cookies`,
        });
      }
    }),
  );

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
