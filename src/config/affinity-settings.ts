import { list, looseBoolean, looseNumber, type Setting, text } from "./setting-parsers.ts";

const AFFINITY = ["pools", 0, "affinity"] as const;

/** Session affinity and drain: environment variables and flags (the first pool's, as the rest). */
export const AFFINITY_SETTINGS: readonly Setting[] = [
  {
    env: "AFFINITY",
    flag: "affinity",
    path: [...AFFINITY, "mode"],
    parse: text,
    help: "session affinity: none | cookie | ip_cookie | header",
  },
  {
    env: "AFFINITY_COOKIE",
    flag: "affinity-cookie",
    path: [...AFFINITY, "cookie_name"],
    parse: text,
    help: "cookie modes: the cookie's name",
  },
  {
    env: "AFFINITY_TTL_S",
    flag: "affinity-ttl-s",
    path: [...AFFINITY, "ttl_s"],
    parse: looseNumber,
    default: "82800 (cookie modes), 1800 (header)",
    help: "cookie lifetime or a header session's idle time, in seconds",
  },
  {
    env: "AFFINITY_HEADERS",
    flag: "affinity-headers",
    path: [...AFFINITY, "headers"],
    parse: list,
    help: "header mode: comma list of the headers that make the session key",
  },
  {
    env: "AFFINITY_REQUIRE_ALL_HEADERS",
    flag: "affinity-require-all-headers",
    path: [...AFFINITY, "require_all_headers"],
    parse: looseBoolean,
    help: "header mode: a session needs every one of AFFINITY_HEADERS (false: any one)",
  },
  {
    env: "AFFINITY_COOKIE_SECURE",
    flag: "affinity-cookie-secure",
    path: [...AFFINITY, "cookie_secure"],
    parse: looseBoolean,
    help: "Secure on the affinity cookie (false only for plain-HTTP development)",
  },
  {
    env: "ZERO_DOWNTIME_FAILOVER",
    flag: "zero-downtime-failover",
    path: [...AFFINITY, "zero_downtime_failover"],
    parse: text,
    help: "affinity backend unusable: temporary (serve elsewhere, keep the session) | sticky | none",
  },
  {
    env: "AFFINITY_SECRET",
    path: ["affinity_secret"],
    parse: text,
    default: "(random per process; memory store only)",
    help: "signs affinity cookies (a secret, 16+ characters; needed with a shared store)",
  },
  {
    env: "DRAIN_SECONDS",
    flag: "drain-seconds",
    path: ["drain_seconds"],
    parse: looseNumber,
    help: "a drain without its own duration keeps affinity sessions this long, in seconds",
  },
];
