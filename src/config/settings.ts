import { ALGORITHM_NAMES } from "../balancer/registry.ts";
import { parseTrustProxy, TRUST_PROXY_EXPECTED } from "../shared/ip-networks.ts";
import { AFFINITY_SETTINGS } from "./affinity-settings.ts";
import { looseBoolean, looseNumber, numberish, ok, type ParseResult, type Setting, text } from "./setting-parsers.ts";

/** The settings reachable from environment variables and command-line flags (setting-parsers.ts). */

export { looseBoolean, looseNumber, type ParseResult, type Setting } from "./setting-parsers.ts";

/** BACKENDS="http://a:80,http://b:80|weight=3,http://c:80|backup|name=c". */
export function parseBackendList(value: string): ParseResult {
  const backends: Record<string, unknown>[] = [];
  for (const item of value.split(",").map((s) => s.trim())) {
    if (item === "") return { ok: false, expected: "a comma-separated list without empty items" };
    const [url, ...options] = item.split("|").map((s) => s.trim());
    const backend: Record<string, unknown> = { url };
    for (const option of options) {
      const [key, optionValue] = option.split("=", 2) as [string, string | undefined];
      if (key === "weight" && optionValue !== undefined) {
        backend["weight"] = numberish(optionValue);
      } else if (key === "backup" && optionValue === undefined) {
        backend["backup"] = true;
      } else if (key === "name" && optionValue) {
        backend["name"] = optionValue;
      } else {
        return {
          ok: false,
          expected: `options weight=N, backup or name=NAME after "|" (found "${option}" in "${item}")`,
        };
      }
    }
    backends.push(backend);
  }
  return ok(backends);
}

/** HASH_KEY="ip" | "header:X-User-Id" | "cookie:session". */
export function parseHashKey(value: string): ParseResult {
  const trimmed = value.trim();
  if (trimmed === "ip") return ok({ source: "ip" });
  const match = /^(header|cookie):(.+)$/.exec(trimmed);
  if (!match) return { ok: false, expected: "ip, header:NAME or cookie:NAME" };
  return ok({ source: match[1], name: match[2]!.trim() });
}

/** TRUST_PROXY="10.0.0.0/8,::1": every item must be a network or an address. */
export function parseNetworkList(value: string): ParseResult {
  const parsed = parseTrustProxy(value);
  if (!parsed.ok) return { ok: false, expected: `${TRUST_PROXY_EXPECTED}; "${parsed.bad}" is not one` };
  return ok(parsed.cidrs.map((cidr) => cidr.text));
}

const POOL = ["pools", 0] as const;

const CORE_SETTINGS: readonly Setting[] = [
  {
    env: "PORT",
    flag: "port",
    path: ["port"],
    parse: looseNumber,
    help: "Node/Bun/Deno: port to serve (0 picks a free one)",
  },
  {
    flag: "host",
    path: ["host"],
    parse: text,
    help: "Node/Bun/Deno: address to bind",
  },
  {
    env: "TRUST_PROXY",
    flag: "trust-proxy",
    path: ["trust_proxy"],
    parse: parseNetworkList,
    help: "Node/Bun/Deno: peers whose X-Forwarded-For is believed: comma list of networks (CIDR) or addresses",
  },
  {
    env: "SHUTDOWN_TIMEOUT_MS",
    flag: "shutdown-timeout-ms",
    path: ["shutdown_timeout_ms"],
    parse: looseNumber,
    help: "Node/Bun/Deno: on SIGTERM/SIGINT, time in ms that in-flight requests get",
  },
  {
    env: "BACKENDS",
    flag: "backends",
    path: [...POOL, "backends"],
    parse: parseBackendList,
    default: "(required)",
    help: "comma list of url[|weight=N][|backup][|name=NAME]",
  },
  {
    env: "ALGORITHM",
    flag: "algorithm",
    path: [...POOL, "algorithm"],
    parse: text,
    help: ALGORITHM_NAMES.join(" | "),
  },
  {
    env: "HASH_KEY",
    flag: "hash-key",
    path: [...POOL, "hash_key"],
    parse: parseHashKey,
    default: "ip",
    help: "ip-hash key: ip | header:NAME | cookie:NAME",
  },
  {
    env: "TIMEOUT_MS",
    flag: "timeout-ms",
    path: [...POOL, "timeout_ms"],
    parse: looseNumber,
    help: "per-try time in ms until the upstream's response headers, then 504",
  },
  {
    env: "PRESERVE_HOST",
    flag: "preserve-host",
    path: [...POOL, "preserve_host"],
    parse: looseBoolean,
    help: "send the client's Host header upstream instead of the backend's",
  },
  {
    env: "MAX_ATTEMPTS",
    flag: "max-attempts",
    path: [...POOL, "retry", "max_attempts"],
    parse: looseNumber,
    help: "attempts per request, each on a different backend",
  },
  {
    env: "HEALTH_CHECK_PATH",
    flag: "health-check-path",
    path: [...POOL, "health_check", "path"],
    parse: text,
    default: "(off)",
    help: "turns active checks on: the path to probe (e.g. /healthz)",
  },
  {
    env: "HEALTH_CHECK_INTERVAL_MS",
    flag: "health-check-interval-ms",
    path: [...POOL, "health_check", "interval_ms"],
    parse: looseNumber,
    help: "time between check rounds in ms",
  },
  {
    env: "HEALTH_CHECK_TIMEOUT_MS",
    flag: "health-check-timeout-ms",
    path: [...POOL, "health_check", "timeout_ms"],
    parse: looseNumber,
    help: "time allowed for one probe in ms",
  },
  {
    env: "HEALTH_CHECK_RISE",
    flag: "health-check-rise",
    path: [...POOL, "health_check", "rise"],
    parse: looseNumber,
    help: "consecutive passes that bring a backend up",
  },
  {
    env: "HEALTH_CHECK_FALL",
    flag: "health-check-fall",
    path: [...POOL, "health_check", "fall"],
    parse: looseNumber,
    help: "consecutive failures that take a backend down",
  },
  {
    env: "HEALTH_CHECK_STATUS",
    flag: "health-check-status",
    path: [...POOL, "health_check", "expected_status"],
    parse: (value) => ({ ok: true, value: value.split(",").map((s) => s.trim()) }),
    help: 'expected statuses, e.g. "2xx,301"',
  },
  {
    env: "EJECT_AFTER",
    flag: "eject-after",
    path: [...POOL, "outlier", "consecutive_failures"],
    parse: looseNumber,
    help: "consecutive failures that eject a backend (0 = off)",
  },
  {
    env: "EJECT_BASE_MS",
    flag: "eject-base-ms",
    path: [...POOL, "outlier", "base_ejection_ms"],
    parse: looseNumber,
    help: "ejection time in ms, multiplied by times ejected",
  },
  {
    env: "MAX_EJECTION_PERCENT",
    flag: "max-ejection-percent",
    path: [...POOL, "outlier", "max_ejection_percent"],
    parse: looseNumber,
    help: "most of a pool ejected at once, in percent",
  },
  {
    env: "EJECT_ON_5XX",
    flag: "eject-on-5xx",
    path: [...POOL, "outlier", "failure_on_5xx"],
    parse: looseBoolean,
    help: "count every 5xx, not only 502/503/504, as a failure for ejection",
  },
  {
    env: "SLOW_START_MS",
    flag: "slow-start-ms",
    path: [...POOL, "slow_start_ms"],
    parse: looseNumber,
    help: "ramp a recovered backend's share over this window in ms (0 = off)",
  },
  {
    env: "STATE",
    flag: "state",
    path: ["state"],
    parse: text,
    help: "memory | durable-object | upstash | kv | deno-kv (Deno only)",
  },
  {
    env: "DENO_KV_PATH",
    flag: "deno-kv-path",
    path: ["deno_kv_path"],
    parse: text,
    help: "STATE=deno-kv: the Deno KV file (default: Deno's own; none on Deno Deploy)",
  },
  {
    env: "STATE_PREFIX",
    flag: "state-prefix",
    path: ["state_prefix"],
    parse: text,
    help: "key prefix in a shared store",
  },
  {
    env: "SEQUENCE_BATCH",
    flag: "sequence-batch",
    path: ["sequence_batch"],
    parse: looseNumber,
    help: "most round-robin positions reserved per store call (1 = exact global order)",
  },
  {
    env: "STORE_TIMEOUT_MS",
    flag: "store-timeout-ms",
    path: ["store_timeout_ms"],
    parse: looseNumber,
    help: "deadline for one store call in ms",
  },
  {
    env: "SYNC_INTERVAL_MS",
    flag: "sync-interval-ms",
    path: ["sync_interval_ms"],
    parse: looseNumber,
    help: "how often, in ms, the shared view is refreshed while requests flow",
  },
  {
    env: "SYNC_BUDGET",
    flag: "sync-budget",
    path: ["sync_budget"],
    parse: looseNumber,
    help: "store calls/s one pool's syncs may take from the whole fleet; past it instances sync less often (default 400; 0 = no budget)",
  },
  {
    env: "INFLIGHT_TTL_MS",
    flag: "inflight-ttl-ms",
    path: ["inflight_ttl_ms"],
    parse: looseNumber,
    help: "how long a silent instance's in-flight counts keep counting, in ms",
  },
  {
    env: "ADMIN_TOKEN",
    path: ["admin_token"],
    parse: text,
    default: "(none: admin routes off)",
    help: "bearer token for the /_lb admin routes (a secret; without it they answer 404)",
  },
  {
    env: "ADMIN_SESSION_TTL_S",
    flag: "admin-session-ttl-s",
    path: ["admin_session_ttl_s"],
    parse: looseNumber,
    help: "lifetime of a dashboard sign-in in seconds",
  },
  {
    env: "ADMIN_COOKIE_SECURE",
    flag: "admin-cookie-secure",
    path: ["admin_cookie_secure"],
    parse: looseBoolean,
    help: "mark the admin session cookie Secure (false only for plain-HTTP development)",
  },
  {
    env: "MAX_URL_BYTES",
    flag: "max-url-bytes",
    path: ["max_url_bytes"],
    parse: looseNumber,
    help: "longest request target in bytes, else 414",
  },
  {
    env: "MAX_HEADER_BYTES",
    flag: "max-header-bytes",
    path: ["max_header_bytes"],
    parse: looseNumber,
    help: "most request header bytes, else 431",
  },
  {
    env: "MAX_REQUEST_BODY_BYTES",
    flag: "max-request-body-bytes",
    path: ["max_request_body_bytes"],
    parse: looseNumber,
    help: "largest request body in bytes, else 413 (0 = unlimited)",
  },
  {
    env: "HEADER_TIMEOUT_MS",
    flag: "header-timeout-ms",
    path: ["header_timeout_ms"],
    parse: looseNumber,
    help: "Node: time in ms to receive the request headers (Bun fixes ~10 s, Deno has none)",
  },
  {
    env: "IDLE_TIMEOUT_MS",
    flag: "idle-timeout-ms",
    path: ["idle_timeout_ms"],
    parse: looseNumber,
    help: "Node, Bun (1-255 s): close idle keep-alive connections and stalled uploads after this many ms (Deno has none)",
  },
  {
    env: "MAX_CONNECTIONS",
    flag: "max-connections",
    path: ["max_connections"],
    parse: looseNumber,
    help: "Node: most client connections at once (0 = no cap)",
  },
  {
    env: "UPSTREAM_CONNECTIONS",
    flag: "upstream-connections",
    path: ["upstream_connections"],
    parse: looseNumber,
    help: "Node: most connections to one backend at once, kept alive and reused (0 = no cap; more requests wait)",
  },
  {
    env: "WEBSOCKET_IDLE_TIMEOUT_MS",
    flag: "websocket-idle-timeout-ms",
    path: ["websocket_idle_timeout_ms"],
    parse: looseNumber,
    help: "close a WebSocket with no message either way for this many ms, with 1001 (0 = never)",
  },
  {
    env: "LOG_REQUESTS",
    flag: "log-requests",
    path: ["log_requests"],
    parse: looseBoolean,
    help: 'log each request: text, "Forwarding request to: <url>" per attempt; json, one record per request',
  },
  {
    env: "LOG_FORMAT",
    flag: "log-format",
    path: ["log_format"],
    parse: text,
    help: "text (the seed's lines) | json (one object per request and per state change)",
  },
  {
    env: "REQUEST_ID_HEADER",
    flag: "request-id-header",
    path: ["request_id_header"],
    parse: text,
    help: "header carrying the request id: a client's sane one is kept, else a new UUID; sent upstream and back",
  },
];

export const SETTINGS: readonly Setting[] = [...CORE_SETTINGS, ...AFFINITY_SETTINGS];
