import { SHARED_LATENCY_ALPHA } from "../shared/latency.ts";
import { PATCH_FIELDS } from "./types.ts";

/**
 * Key layout of one pool in Redis (all keys `${prefix}:${pool}:<name>`; pool names have no ':',
 * so two prefixes can never produce the same key):
 *
 *   seq    string  the shared sequence; INCRBY k returns the end of the caller's block
 *   flags  hash    "<backend>|<field>" -> value as a string, one hash field per BackendPatch field
 *                  set (PATCH_FIELDS: health, admin, streak, reason, since, ejectedUntil,
 *                  ejections), e.g. "b1|health" -> "down", "b1|ejectedUntil" -> "1767225600000";
 *                  setBackend is one HSET of the fields its patch names (a merge by construction)
 *   lat    hash    backend -> "<ewmaMs %.17g> <updatedAt ms>"
 *   inst   hash    instance -> "<expiresAt ms> <in-flight JSON {backend: count}>"; the key
 *                  carries PEXPIREAT of its latest live entry, so a pool whose instances all
 *                  died leaves nothing behind
 *   live   zset   instance -> until (ms): instances counted live (reports that named liveMs);
 *                  expired members are removed by each sync, and the key carries PEXPIREAT of
 *                  its latest member
 *   lock:<name>  string  "1" with PX ttl; tryLock is SET NX PX (lock names use the pool-name
 *                  alphabet, so they cannot reach into another key)
 *   sess:<key>   string  the backend a header-affinity session is placed on, with PX ttl renewed
 *                  by every claim (SESSION_SCRIPT); session keys are base64url (checkSession),
 *                  so they cannot reach into another key either, and an idle session's key
 *                  expires on its own
 *
 * Every key a script touches is passed in KEYS (no key names built inside Lua), so the scripts
 * stay valid on a cluster or any Redis that routes scripts by their declared keys.
 */
export const KEY_NAMES = ["seq", "flags", "lat", "inst", "live"] as const;
export type KeyName = (typeof KEY_NAMES)[number];

/** Separates a backend name from its flag name in the flags hash (split at the last one). */
export const FLAG_SEPARATOR = "|";

// The script matches flag names with Lua's %a+ (letters only); a field name outside that would
// silently never come back from sync, so refuse to load instead.
for (const field of PATCH_FIELDS) {
  if (!/^[A-Za-z]+$/.test(field)) throw new Error(`upstash-scripts: patch field ${field} is not letters only`);
}

/** Lua table literal of the known flag names: the script returns these and skips anything else. */
const KNOWN_FLAGS = `{ ${PATCH_FIELDS.map((field) => `${field} = true`).join(", ")} }`;

/**
 * sync(pool, report) in one atomic step.
 *
 * KEYS: inst, flags, lat, live.
 * ARGV: empty (no report), or instance, ttlMs, in-flight JSON, liveMs ("" when the report names
 * none), then (backend, count, meanMs)*.
 * Returns JSON {t: server time ms, b: {backend: {i: in-flight sum, f?: {field: string value},
 * l?: "<ewma> <at>"}}, n: live instances}: `f` holds every PATCH_FIELDS flag the backend has, as
 * stored (strings; the adapter converts and validates them).
 *
 * `now` comes from the server's TIME, so instances with skewed clocks agree on expiry (Redis 7
 * replicates scripts by effects, which allows TIME before writes). Floats are kept as %.17g
 * strings: cjson prints numbers with 14 significant digits, which would lose precision.
 */
export const SYNC_SCRIPT = `
local alpha = ${SHARED_LATENCY_ALPHA}
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stamp = string.format('%.0f', now)

if #ARGV >= 3 then
  if ARGV[3] == '{}' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  else
    redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + tonumber(ARGV[2])) .. ' ' .. ARGV[3])
  end
  local liveMs = tonumber(ARGV[4])
  if liveMs then
    redis.call('ZADD', KEYS[4], now + liveMs, ARGV[1])
  end
  for i = 5, #ARGV - 2, 3 do
    local backend, count, mean = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    if count and mean and count > 0 then
      local ewma = mean
      local previous = redis.call('HGET', KEYS[3], backend)
      local before = previous and tonumber(string.match(previous, '^%S+'))
      if before then
        local keep = (1 - alpha) ^ count
        ewma = before * keep + mean * (1 - keep)
      end
      redis.call('HSET', KEYS[3], backend, string.format('%.17g', ewma) .. ' ' .. stamp)
    end
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', stamp)
local live = redis.call('ZCARD', KEYS[4])
if live > 0 then
  local last = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[4], string.format('%.0f', tonumber(last[2])))
end

local out = {}
local function entry(backend)
  local e = out[backend]
  if not e then
    e = { i = 0 }
    out[backend] = e
  end
  return e
end

local instances = redis.call('HGETALL', KEYS[1])
local latest = 0
for i = 1, #instances, 2 do
  local expires, json = string.match(instances[i + 1], '^(%d+) (.*)$')
  expires = tonumber(expires)
  local ok, inflight = false, nil
  if expires and expires > now then ok, inflight = pcall(cjson.decode, json) end
  if ok and type(inflight) == 'table' then
    if expires > latest then latest = expires end
    for backend, count in pairs(inflight) do
      local e = entry(backend)
      e.i = e.i + (tonumber(count) or 0)
    end
  else
    redis.call('HDEL', KEYS[1], instances[i])
  end
end
if latest > 0 then redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', latest)) end

local known = ${KNOWN_FLAGS}
local flags = redis.call('HGETALL', KEYS[2])
for i = 1, #flags, 2 do
  local backend, name = string.match(flags[i], '^(.*)%${FLAG_SEPARATOR}(%a+)$')
  if backend and known[name] then
    local e = entry(backend)
    if not e.f then e.f = {} end
    e.f[name] = flags[i + 1]
  end
end

local latency = redis.call('HGETALL', KEYS[3])
for i = 1, #latency, 2 do entry(latency[i]).l = latency[i + 1] end

return cjson.encode({ t = now, b = out, n = live })
`;

/**
 * claimSession(pool, key, backend, ttlMs, replacing?) in one atomic step: the placement held
 * (idle expiry renewed) unless it is absent, expired (Redis has dropped the key) or names
 * `replacing`; then `backend`, stored with that expiry.
 *
 * KEYS: sess:<key>.
 * ARGV: backend, ttlMs (whole ms), and replacing when the caller gives one (absent, ARGV[3] is
 * nil, which no stored value equals).
 * Returns the backend the session is placed on now.
 */
export const SESSION_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return held
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`;
