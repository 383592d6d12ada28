import { z } from "zod";
import { ALGORITHM_NAMES } from "../balancer/registry.ts";
import type { Backend } from "../shared/backend.ts";
import { parseCidr, TRUST_PROXY_EXPECTED } from "../shared/ip-networks.ts";
import { POOL_NAME, STATE_KINDS } from "../state/types.ts";
import { affinitySchema, signsCookies } from "./affinity-schema.ts";

/**
 * The one schema. JSON keys are snake_case like nginx/HAProxy directives; the Config type is
 * inferred from it so there is exactly one description of what a valid config is.
 */

const MAX_WEIGHT = 1000;

export const backendUrl = z.string().superRefine((raw, ctx) => {
  const problem = backendUrlProblem(raw);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

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

const backendSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.:\-[\]]+$/, "expected letters, digits and _ . : - [ ] only")
      .optional(),
    url: backendUrl,
    weight: z.number().int().min(1).max(MAX_WEIGHT).default(1),
    backup: z.boolean().default(false),
  })
  .strict();

const hashKeySchema = z.discriminatedUnion("source", [
  z.object({ source: z.literal("ip") }).strict(),
  z.object({ source: z.literal("header"), name: z.string().min(1) }).strict(),
  z.object({ source: z.literal("cookie"), name: z.string().min(1) }).strict(),
]);

const retrySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(10).default(3),
    max_body_bytes: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
    /** Each successful response earns this share of a retry (Finagle-style budget). */
    budget_percent: z.number().min(0).max(100).default(20),
    /** Retries kept in reserve, so a quiet instance can still retry. */
    budget_reserve: z.number().int().min(0).max(1000).default(10),
  })
  .strict();

const healthCheckSchema = z
  .object({
    path: z.string().startsWith("/", "expected a path starting with /").default("/"),
    method: z.enum(["GET", "HEAD", "OPTIONS"]).default("GET"),
    expected_status: z
      .array(z.string().regex(/^([1-5]xx|[1-5]\d\d)$/, 'expected a status like "2xx" or "204"'))
      .min(1)
      .default(["2xx"]),
    body_contains: z.string().min(1).optional(),
    headers: z.record(z.string(), z.string()).default({}),
    timeout_ms: z.number().int().min(1).max(60_000).default(2_000),
    interval_ms: z.number().int().min(500).max(3_600_000).default(10_000),
    rise: z.number().int().min(1).max(100).default(2),
    fall: z.number().int().min(1).max(100).default(3),
  })
  .strict();

const outlierSchema = z
  .object({
    consecutive_failures: z.number().int().min(0).max(1000).default(5),
    base_ejection_ms: z.number().int().min(100).max(3_600_000).default(30_000),
    max_ejection_ms: z.number().int().min(100).max(86_400_000).default(300_000),
    max_ejection_percent: z.number().min(0).max(100).default(50),
    /**
     * Count every 5xx as a failure. Off by default: 502/503/504, timeouts and refused
     * connections always count (Envoy's consecutive_gateway_failure), but a 500 is usually the
     * application's answer to one request, and any client could provoke it on purpose.
     */
    failure_on_5xx: z.boolean().default(false),
  })
  .strict();

export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type OutlierConfig = z.output<typeof outlierSchema>;

const poolSchema = z
  .object({
    name: z.string().regex(POOL_NAME, "expected letters, digits and _ . - only").default("default"),
    algorithm: z.enum(ALGORITHM_NAMES).default("round-robin"),
    backends: z.array(backendSchema).min(1, "expected at least one backend"),
    hash_key: hashKeySchema.default({ source: "ip" }),
    timeout_ms: z.number().int().min(1).max(600_000).default(30_000),
    preserve_host: z.boolean().default(false),
    retry: retrySchema.default(retrySchema.parse({})),
    /** Active checks; absent means none (passive ejection still applies). */
    health_check: healthCheckSchema.optional(),
    outlier: outlierSchema.default(outlierSchema.parse({})),
    /** Below this share of usable primaries, use every primary rather than few (Envoy panic). */
    panic_threshold_percent: z.number().min(0).max(100).default(0),
    /** A recovered backend's share ramps linearly over this window (nginx slow_start). */
    slow_start_ms: z.number().int().min(0).max(3_600_000).default(0),
    affinity: affinitySchema.default(affinitySchema.parse({})),
  })
  .strict()
  .superRefine((pool, ctx) => {
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
  })
  .transform((pool) => ({
    ...pool,
    backends: pool.backends.map((b): Backend => {
      const url = normalizeBackendUrl(b.url);
      return { name: b.name ?? defaultBackendName(url), url, weight: b.weight, backup: b.backup };
    }),
  }));

/** host:port plus base path: readable in logs and stable while the URL is unchanged. */
export function defaultBackendName(normalizedUrl: string): string {
  const url = new URL(normalizedUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}${url.pathname === "/" ? "" : url.pathname}`;
}

export const configSchema = z
  .object({
    /** Node, Bun, Deno: the port to serve (0 picks a free one). */
    port: z.number().int().min(0).max(65_535).default(3_000),
    /** Node, Bun, Deno: the address to bind. */
    host: z.string().min(1).default("0.0.0.0"),
    /** Node, Bun, Deno: networks whose X-Forwarded-For (and X-Forwarded-Proto) is believed. */
    trust_proxy: z
      .array(z.string().refine((text) => parseCidr(text) !== undefined, `expected ${TRUST_PROXY_EXPECTED}`))
      .default([]),
    /** Node, Bun, Deno: on SIGTERM/SIGINT, how long requests in flight get. */
    shutdown_timeout_ms: z.number().int().min(0).max(86_400_000).default(30_000),
    pools: z
      .array(poolSchema)
      .min(1, "expected at least one pool")
      .max(1, "expected exactly one pool (several pools are not routed yet)"),
    state: z.enum(STATE_KINDS).default("memory"),
    /** Deno, STATE=deno-kv: the KV database file; absent, Deno's default (Deno Deploy's own store). */
    deno_kv_path: z.string().min(1, "expected a file path").optional(),
    /** Namespaces every key in a shared store, so two balancers can share one Redis. */
    state_prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected 1-64 letters, digits and _ . : -")
      .default("edge-lb"),
    /** Most sequence positions one store call reserves; 1 keeps exact global round robin. */
    sequence_batch: z.number().int().min(1).max(10_000).default(64),
    store_timeout_ms: z.number().int().min(1).max(60_000).default(200),
    /** How stale the shared view (health, flags, load) may get while requests flow. */
    sync_interval_ms: z.number().int().min(10).max(600_000).default(1_000),
    /**
     * Store calls per second the fleet's background syncs may spend on one pool: past it, each
     * instance syncs once per (live instances / budget) seconds instead. 0 = no budget.
     */
    sync_budget: z.number().int().min(0).max(100_000).default(400),
    /** Least gap between in-flight reports for least-connections and least-response-time. */
    report_gap_ms: z.number().int().min(1).max(60_000).default(50),
    /** In-flight counts of an instance that stops reporting stop counting after this. */
    inflight_ttl_ms: z.number().int().min(1_000).max(600_000).default(15_000),
    log_requests: z.boolean().default(true),
    /** Bearer token for /_lb admin routes; without it they answer 404. */
    admin_token: z.string().min(16, "expected at least 16 characters").optional(),
    /** Lifetime of a dashboard sign-in (the signed session cookie). */
    admin_session_ttl_s: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(12 * 3_600),
    /** The session cookie is Secure unless turned off for plain-HTTP development. */
    admin_cookie_secure: z.boolean().default(true),
    /** Longest request target (path and query) in bytes: 414 above it. */
    max_url_bytes: z.number().int().min(256).max(1_048_576).default(8_192),
    /** Most bytes of request header names and values together: 431 above it. */
    max_header_bytes: z.number().int().min(1_024).max(1_048_576).default(32_768),
    /** Largest request body in bytes: 413 above it; 0 = unlimited (streamed, never buffered). */
    max_request_body_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    /** Node, Bun, Deno: time a client gets to send the request headers. */
    header_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
    /**
     * Node, Bun, Deno: an idle keep-alive connection, or an upload that sends nothing, is
     * closed after this long. Waiting on the upstream is bounded by timeout_ms instead.
     */
    idle_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Node: most client connections open at once; more are refused. 0 = no cap. */
    max_connections: z.number().int().min(0).max(10_000_000).default(10_000),
    /** A WebSocket with no message either way for this long is closed (1001); 0 = no cap. */
    websocket_idle_timeout_ms: z.number().int().min(0).max(86_400_000).default(0),
    /** Signs affinity cookies; every instance sharing a store needs the same one. */
    affinity_secret: z.string().min(16, "expected at least 16 characters").optional(),
    /** A drain without a duration of its own keeps affinity sessions this long. */
    drain_seconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .default(0),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (signsCookies(config.pools) && config.state !== "memory" && !config.affinity_secret) {
      ctx.addIssue({
        code: "custom",
        path: ["affinity_secret"],
        input: undefined,
        message: `expected a secret of 16+ characters in AFFINITY_SECRET: cookie affinity with STATE=${config.state} needs one every instance shares, to verify each other's cookies`,
      });
    }
  });

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
