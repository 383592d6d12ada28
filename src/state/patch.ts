// The rules for a backend's shared record (BackendPatch), in one place for every adapter:
// which fields exist, what each may hold, and how each goes to and from a string (the Redis
// hash stores one string per field). Also the arguments of tryLock.
import { type AdminState, type BackendPatch, type Health, PATCH_FIELDS, POOL_NAME } from "./types.ts";

export type PatchField = (typeof PATCH_FIELDS)[number];

/** Largest weight the admin API may set (as Cloudflare's pool weights, scaled to integers). */
export const MAX_WEIGHT = 1_000;

/** Longest `reason` kept (UTF-16 code units); longer ones are cut, not refused. */
export const MAX_REASON_LENGTH = 200;

const HEALTH: ReadonlySet<string> = new Set<Health>(["up", "down"]);
const ADMIN: ReadonlySet<string> = new Set<AdminState>(["enabled", "drained", "disabled"]);
const FIELDS: ReadonlySet<string> = new Set<string>(PATCH_FIELDS);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * One field's value if it is valid, else undefined. `fromString` also accepts the decimal
 * string form of numeric fields (what Redis hands back).
 */
function fieldValue(field: PatchField, value: unknown, fromString: boolean): BackendPatch[PatchField] | undefined {
  switch (field) {
    case "health":
      return typeof value === "string" && HEALTH.has(value) ? (value as Health) : undefined;
    case "admin":
      return typeof value === "string" && ADMIN.has(value) ? (value as AdminState) : undefined;
    case "reason":
      return typeof value === "string" ? truncate(value) : undefined;
    case "streak":
    case "ejections": {
      const n = toNumber(value, fromString);
      return n !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    }
    case "weight": {
      const n = toNumber(value, fromString);
      return n !== undefined && Number.isSafeInteger(n) && n >= 0 && n <= MAX_WEIGHT ? n : undefined;
    }
    case "since":
    case "drainUntil":
    case "ejectedUntil": {
      const n = toNumber(value, fromString);
      return n !== undefined && Number.isFinite(n) ? n : undefined;
    }
  }
}

function toNumber(value: unknown, fromString: boolean): number | undefined {
  if (typeof value === "number") return value;
  if (fromString && typeof value === "string" && value.trim() !== "") return Number(value);
  return undefined;
}

/** Cuts to MAX_REASON_LENGTH without leaving half a surrogate pair at the end. */
function truncate(reason: string): string {
  if (reason.length <= MAX_REASON_LENGTH) return reason;
  const cut = reason.slice(0, MAX_REASON_LENGTH);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

const expected: Record<PatchField, string> = {
  health: `"up" or "down"`,
  admin: `"enabled", "drained" or "disabled"`,
  streak: "a non-negative integer",
  ejections: "a non-negative integer",
  since: "a finite number (epoch ms)",
  ejectedUntil: "a finite number (epoch ms)",
  drainUntil: "a finite number (epoch ms)",
  weight: `an integer from 0 to ${MAX_WEIGHT}`,
  reason: "a string",
};

/**
 * A patch as callers may write it: a plain object whose keys are PATCH_FIELDS only, each valid
 * (an `undefined` value counts as absent). Returns a fresh object holding exactly the fields
 * set, `reason` cut to MAX_REASON_LENGTH; throws a TypeError for anything else, so a bad patch
 * never reaches the store.
 */
export function sanitizePatch(patch: unknown): BackendPatch {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new TypeError(`setBackend: patch must be an object, got ${show(patch)}`);
  }
  const out: Mutable<BackendPatch> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (!FIELDS.has(key)) {
      throw new TypeError(
        `setBackend: unknown field ${JSON.stringify(key)} (expected one of ${PATCH_FIELDS.join(", ")})`,
      );
    }
    if (value === undefined) continue;
    const field = key as PatchField;
    const clean = fieldValue(field, value, false);
    if (clean === undefined) {
      throw new TypeError(`setBackend: invalid ${field} ${show(value)}: expected ${expected[field]}`);
    }
    (out as Record<PatchField, unknown>)[field] = clean;
  }
  return out;
}

/**
 * A record read back from storage (KV JSON, Durable Object storage, Redis strings): keeps the
 * valid PATCH_FIELDS and drops the rest instead of throwing, so one stray value written by hand
 * or by an older version cannot take a whole pool's view down. Numeric fields may be strings.
 */
export function readPatch(stored: unknown): BackendPatch {
  const out: Mutable<BackendPatch> = {};
  if (typeof stored !== "object" || stored === null) return out;
  for (const field of PATCH_FIELDS) {
    const clean = fieldValue(field, (stored as Record<string, unknown>)[field], true);
    if (clean !== undefined) (out as Record<PatchField, unknown>)[field] = clean;
  }
  return out;
}

/**
 * A sanitized patch as one string per field (Redis hash values). `String(n)` is the shortest
 * form that parses back to the same double, so numbers round-trip exactly through readPatch.
 */
export function patchStrings(patch: BackendPatch): Partial<Record<PatchField, string>> {
  const out: Partial<Record<PatchField, string>> = {};
  for (const field of PATCH_FIELDS) {
    const value = patch[field];
    if (value !== undefined) out[field] = String(value);
  }
  return out;
}

/**
 * Checks reserve's count the same way in every adapter, before any round trip: a NaN or
 * fractional count written through would poison a durable sequence for good.
 */
export function checkCount(count: number): number {
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`reserve: count must be a non-negative integer, got ${show(count)}`);
  }
  return count;
}

/** Lock names become part of a Redis key, so they are held to the same alphabet as pool names. */
export const LOCK_NAME = POOL_NAME;

/**
 * Checks tryLock's arguments the same way in every adapter; returns the ttl as whole
 * milliseconds (rounded up, as Redis's PX needs an integer).
 */
export function checkLock(name: string, ttlMs: number): number {
  if (typeof name !== "string" || !LOCK_NAME.test(name)) {
    throw new TypeError(`tryLock: invalid lock name ${JSON.stringify(name)}: expected letters, digits and _ . - only`);
  }
  return checkTtl("tryLock", ttlMs);
}

function checkTtl(operation: string, ttlMs: number): number {
  if (typeof ttlMs !== "number" || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`${operation}: ttlMs must be a positive number, got ${show(ttlMs)}`);
  }
  const whole = Math.ceil(ttlMs);
  if (!Number.isSafeInteger(whole)) throw new RangeError(`${operation}: ttlMs too large, got ${String(ttlMs)}`);
  return whole;
}

/** Session keys are digests (base64url), so they stay short and hold no client's secret. */
export const SESSION_KEY = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Checks claimSession's arguments the same way in every adapter (before any round trip);
 * returns the whole-ms ttl. `replacing`, when given, names a backend like `backend` does.
 */
export function checkSession(key: string, backend: string, ttlMs: number, replacing?: string): number {
  if (typeof key !== "string" || !SESSION_KEY.test(key)) {
    throw new TypeError(`claimSession: invalid session key ${show(key)}: expected 1-128 base64url characters`);
  }
  if (typeof backend !== "string" || backend === "") {
    throw new TypeError(`claimSession: invalid backend ${show(backend)}`);
  }
  if (replacing !== undefined && (typeof replacing !== "string" || replacing === "")) {
    throw new TypeError(`claimSession: invalid replacing ${show(replacing)}: expected a backend name or nothing`);
  }
  return checkTtl("claimSession", ttlMs);
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  return Array.isArray(value) ? "an array" : typeof value;
}
