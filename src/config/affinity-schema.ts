import * as z from "./zod.ts";

/**
 * Session affinity for one pool, named and shaped after Cloudflare Load Balancing's
 * session_affinity, session_affinity_ttl and session_affinity_attributes.
 */

export const AFFINITY_MODES = ["none", "cookie", "ip_cookie", "header"] as const;
export const FAILOVER_POLICIES = ["temporary", "sticky", "none"] as const;

/** RFC 6265 cookie-name and RFC 9110 field-name: both are tokens. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$/;

/** Cloudflare's defaults: 23 h for the cookie modes, and an idle 30 min for header sessions. */
export const DEFAULT_COOKIE_TTL_S = 82_800;
export const DEFAULT_HEADER_TTL_S = 1_800;

export const affinitySchema = z
  .strictObject({
    mode: z._default(z.enum(AFFINITY_MODES), "none"),
    cookie_name: z._default(
      z.string().check(z.regex(TOKEN, "expected a cookie name (a token: letters, digits, !#$%&'*+-.^_`|~)")),
      "lb_affinity",
    ),
    /** Absent: DEFAULT_COOKIE_TTL_S for the cookie modes, DEFAULT_HEADER_TTL_S for header. */
    ttl_s: z.optional(z.int().check(z.gte(1), z.lte(30 * 86_400))),
    /** Header mode: the headers whose values make the session key. */
    headers: z._default(z.array(z.string().check(z.regex(TOKEN, "expected a header name (a token)"))), []),
    /** Header mode: a request without every one of them has no session (else: any of them). */
    require_all_headers: z._default(z.boolean(), false),
    zero_downtime_failover: z._default(z.enum(FAILOVER_POLICIES), "temporary"),
    /** The cookie is Secure unless turned off for plain-HTTP development. */
    cookie_secure: z._default(z.boolean(), true),
  })
  .check(
    z.superRefine((affinity, ctx) => {
      if (affinity.mode === "header" && affinity.headers.length === 0) {
        ctx.addIssue({
          code: "custom",
          path: ["headers"],
          input: affinity.headers,
          message: "expected at least one header name for header affinity (AFFINITY_HEADERS: a comma list)",
        });
      }
    }),
  );

export type AffinityConfig = z.output<typeof affinitySchema>;

/** Whether any pool signs cookies, so the config needs a secret its instances share. */
export function signsCookies(pools: readonly { readonly affinity: AffinityConfig }[]): boolean {
  return pools.some((pool) => pool.affinity.mode === "cookie" || pool.affinity.mode === "ip_cookie");
}
